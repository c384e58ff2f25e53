"""A small real HTTP server speaking OpenAI's streaming chat completions (SSE), faults included.

Tests pick the behaviour by setting `fake.mode`; every request is recorded so tests can check what the
server sent (messages, model, auth header).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.http import ServerThread

MODES = ("ok", "401", "500", "disconnect", "slow", "garbage", "html", "long", "tools", "no_tools")
TOOL_ARGUMENTS = '{"prompt": "the sunset over Paris as a watercolor painting"}'



class FakeOpenAIChat:
    """`POST /v1/chat/completions` with `stream: true`. The reply echoes the last user message."""

    def __init__(self, api_key: str = "sk-test-fake") -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()  # a `slow` reply waits on this (set by the server's own loop)
        self.reply_template = "You said: {text}. That is a fine thing to say. Tell me more about it."
        self.tool_call = ("generate_image", TOOL_ARGUMENTS)  # what `tools` mode calls: (name, arguments)
        # A real remote model takes a while to its first token (~300 ms for hosted models): benches set it.
        self.first_token_delay_s = 0.0
        app = Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])
        self.server = ServerThread(app)

    def start(self) -> FakeOpenAIChat:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.url

    def reply_for(self, text: str) -> str:
        return self.reply_template.format(text=text.strip().rstrip(".?!"))

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        if request.headers.get("authorization") != f"Bearer {self.api_key}" or self.mode == "401":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                           "code": "invalid_api_key"}}, status_code=401)  # fmt: skip
        if self.mode == "500":
            return JSONResponse({"error": {"message": "The server had an error", "type": "server_error"}},
                                status_code=500)
        if self.mode == "html":
            return Response("<html><body>Gateway login</body></html>", media_type="text/event-stream")
        if self.mode == "no_tools" and "tools" in body:
            return JSONResponse({"error": {"message": "tools are not supported by this model",
                                           "type": "invalid_request_error"}}, status_code=400)
        if self.mode == "tools" and "tools" in body:
            return StreamingResponse(self._tool_call(body), media_type="text/event-stream")
        user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        reply = self.reply_for(user)
        if self.mode == "long":
            reply = " ".join([reply] * 12)
        return StreamingResponse(self._events(body, reply), media_type="text/event-stream")

    async def _tool_call(self, body: dict[str, Any]):  # type: ignore[no-untyped-def]
        """"Sure.", then `tool_call`, its arguments in two fragments (as OpenAI streams them)."""

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return "data: " + json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                                          "choices": [choice]}) + "\n\n"

        name, arguments = self.tool_call
        half = len(arguments) // 2
        first = {"name": name, "arguments": arguments[:half]}
        yield chunk({"role": "assistant", "content": "Sure."})
        yield chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": first}]})
        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]})
        yield chunk({}, "tool_calls")
        yield "data: [DONE]\n\n"

    async def _events(self, body: dict[str, Any], reply: str):  # type: ignore[no-untyped-def]
        if self.first_token_delay_s:
            await asyncio.sleep(self.first_token_delay_s)  # the remote model's think time, not a sync
        words = reply.split(" ")
        for index, word in enumerate(words):
            if self.mode == "disconnect" and index == 4:
                raise ConnectionResetError("fake: dropped mid-stream")  # uvicorn aborts the response
            if self.mode == "slow" and index == 2:
                await self.release.wait()
            if self.mode == "garbage" and index == 3:
                yield "data: {this is not json\n\n"
                continue
            delta = word if index == 0 else " " + word
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": body.get("model"),
                     "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
            await asyncio.sleep(0)
        done = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(done)}\n\n"
        yield "data: [DONE]\n\n"
