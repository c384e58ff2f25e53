"""Command line: `voicechat` / `voicechat serve` runs the server, `voicechat say FILE.wav` talks to one,
`voicechat assistant` is a hands-free assistant on this machine's microphone and speaker."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .security import ConfigError, check_exposure
    from .settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port),
                                   ("wyoming_uri", args.wyoming)) if v is not None}
    settings = Settings(**overrides)
    try:
        check_exposure(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .doors.wyoming import check_uri

    try:
        if settings.wyoming_uri:
            check_uri(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from .bundles import ModelFileError
    from .models import check_bundled

    try:  # a missing or altered model file is one clear line, before anything starts
        check_bundled(settings)
    except ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Messages above our own limit get a typed error from the door; only absurd ones are cut here.
        ws_max_size=max(settings.max_message_bytes * 4, 1 << 20),
        ws_ping_interval=20,
        ws_ping_timeout=20,
        timeout_graceful_shutdown=settings.shutdown_grace_s + 5,
    )
    graceful_server(config, app, settings.shutdown_grace_s).run()
    return 0


def graceful_server(config: Any, app: Any, grace_s: float) -> Any:
    """A uvicorn server whose shutdown first stops listening, then lets sessions finish their turns."""
    import uvicorn

    from .app import drain_sessions

    class _Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
            for server in self.servers:
                server.close()  # no new connections while the old ones finish
            await drain_sessions(app, grace_s)
            await super().shutdown(sockets)

    return _Server(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicechat", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (the default)")
    for p in (parser, serve):
        p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help="port to bind (default 8000; 0 = any free)")
        p.add_argument("--wyoming", default=None, metavar="URI",
                       help="also serve Wyoming (Home Assistant), e.g. tcp://127.0.0.1:10300")
    say = sub.add_parser("say", help="stream a WAV file to a server and collect the spoken replies")
    say.add_argument("file", help="16-bit PCM WAV, any rate, mono or stereo")
    say.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="server's /ws URL")
    say.add_argument("--out", help="write the reply audio to this WAV file")
    say.add_argument("--json", action="store_true", help="print one JSON object per server event")
    say.add_argument("--fast", action="store_true", help="send as fast as possible, not at real-time pace")
    say.add_argument("--barge-in", action="store_true", help="let speech interrupt replies still playing")
    say.add_argument("--language", help="spoken language (ISO code or auto)")
    say.add_argument("--voice", help="reply voice")
    say.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the turns to end")
    from .clients.assistant import add_assistant_parser

    add_assistant_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `voicechat` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "say":
        from .clients.say import run_say

        return run_say(args)
    if args.command == "assistant":
        from .clients.assistant import run_assistant

        return run_assistant(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
