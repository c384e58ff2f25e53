"""Run an ASGI app on a real loopback socket (ephemeral port) in a background thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import uvicorn


class ServerThread:
    """uvicorn in its own thread and event loop; `start()` returns once the socket is listening."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **config
        )
        self.server = uvicorn.Server(self.config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve())

    def start(self, timeout: float = 120.0) -> ServerThread:
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        # uvicorn offers no "started" callback; its flag is checked on a short tick until the deadline.
        while not self.server.started:
            if not self._thread.is_alive() or waited > timeout:
                raise RuntimeError("server did not start")
            deadline.wait(0.02)
            waited += 0.02
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Run `fn` on the server's loop (e.g. to set an asyncio.Event owned by the server)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
