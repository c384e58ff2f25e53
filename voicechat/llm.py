"""Chat engines: any OpenAI-compatible streaming endpoint over httpx, or an embedded llama.cpp model."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .cpu import GATE
from .models import ModelSource, resolve_gguf
from .sentences import SentenceChunker, starts_new_sentence
from .settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, Any]


class ChatError(Exception):
    """A chat call that failed; `code` is what the client sees in the error event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ToolCall:
    """A function the model chose to call instead of (or after) answering in words."""

    name: str
    arguments: str


class ChatEngine(Protocol):
    """Streams the assistant's reply to a list of OpenAI-style messages: text deltas, then any tool calls."""

    description: str
    supports_tools: bool
    # Each reply is a request to another server (often paid): speculative turns wait for confirmation.
    remote: bool

    def stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[str | ToolCall]: ...


class OpenAIChat:
    """Streaming `/v1/chat/completions` (OpenAI, Ollama, vLLM, llama-server, gateways)."""

    remote = True

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        base = settings.openai_api_base_url or "https://api.openai.com"
        # Users paste either the server root or the /v1 root; both work.
        self.url = base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")
        self.model = settings.chat_model
        self.max_tokens = settings.chat_max_tokens
        self.max_sentences = settings.local_max_sentences
        self.temperature = settings.local_temperature
        self.timeout = settings.chat_timeout_s
        headers = {"Accept": "text/event-stream"}
        if settings.api_key():
            headers["Authorization"] = f"Bearer {settings.api_key()}"
        self._client = client or httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        )
        self.description = f"{self.model} at {base} (OpenAI-compatible)"
        self.supports_tools = settings.chat_tools

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[str | ToolCall]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if tools and self.supports_tools:
            body.update(tools=tools, tool_choice="auto")
        calls: dict[int, dict[str, str]] = {}
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code == 400 and "tools" in body:
                    # Plenty of OpenAI-compatible servers reject `tools`; stop offering them and ask again.
                    await response.aread()
                    log.warning("the chat model refused tools (%s); asking without them from now on",
                                _http_error(response)[1])
                    self.supports_tools = False
                    async for piece in self.stream(messages):
                        yield piece
                    return
                if response.status_code != 200:
                    await response.aread()
                    raise ChatError(*_http_error(response))
                if "text/event-stream" not in response.headers.get("content-type", "text/event-stream"):
                    # Some servers ignore stream=true and answer one JSON body.
                    await response.aread()
                    message = (_parse_json(response.text).get("choices") or [{}])[0].get("message") or {}
                    if message.get("content"):
                        yield str(message["content"])
                    for call in message.get("tool_calls") or []:
                        function = call.get("function") or {}
                        yield ToolCall(str(function.get("name", "")), str(function.get("arguments") or "{}"))
                    return
                finished = False
                events = 0
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        if events == 0 and line.lstrip().startswith("<"):
                            raise ChatError("chat_bad_response", "the chat server answered with a web page, "
                                            "not an event stream; check OPENAI_API_BASE_URL")
                        continue
                    events += 1
                    data = line[5:].strip()
                    if data == "[DONE]":
                        finished = True
                        break
                    chunk = _parse_json(data)
                    if "error" in chunk:
                        message = _error_message(chunk) or "the chat model reported an error"
                        raise ChatError("chat_failed", message)
                    choice = (chunk.get("choices") or [{}])[0]
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield delta["content"]
                    for call in delta.get("tool_calls") or []:  # streamed in fragments, keyed by index
                        slot = calls.setdefault(int(call.get("index", 0)), {"name": "", "arguments": ""})
                        function = call.get("function") or {}
                        slot["name"] += function.get("name") or ""
                        slot["arguments"] += function.get("arguments") or ""
                    if choice.get("finish_reason"):
                        finished = True
                if not finished:
                    raise ChatError("chat_interrupted", "the chat model's stream ended before the reply did")
                for index in sorted(calls):
                    yield ToolCall(calls[index]["name"], calls[index]["arguments"] or "{}")
        except httpx.TimeoutException as exc:
            message = f"the chat model did not answer within {self.timeout:g} s"
            raise ChatError("chat_timeout", message) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ChatError("chat_interrupted", "the chat model's connection broke mid-reply") from exc
        except httpx.HTTPError as exc:
            raise ChatError("chat_unreachable", f"cannot reach the chat model: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ChatError("chat_bad_response", "the chat model answered something that is not JSON") from exc
    if not isinstance(value, dict):
        raise ChatError("chat_bad_response", "the chat model answered JSON of an unexpected shape")
    return value


def _error_message(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(error or body.get("message") or "")


def _http_error(response: httpx.Response) -> tuple[str, str]:
    status = response.status_code
    try:
        detail = _error_message(response.json())
    except ValueError:
        detail = ""
    detail = f": {detail[:200]}" if detail else ""
    if status in (401, 403):
        return "chat_auth", f"the chat model refused our key (HTTP {status}); check OPENAI_API_KEY{detail}"
    if status == 404:
        return "chat_not_found", f"the chat endpoint or model was not found (HTTP 404){detail}"
    if status == 429:
        return "chat_rate_limited", f"the chat model is rate limiting us (HTTP 429){detail}"
    return "chat_failed", f"the chat model failed (HTTP {status}){detail}"


# Shown to the local model before every conversation (after the system prompt, cached with it, so they
# cost nothing per turn): a half-billion-parameter model follows examples far better than instructions.
# Kept apart from the questions bench/brain.py and bench/quality.py ask. An example's answer must not fit
# another question of its shape: with "eight plus five is thirteen" here, the model answered "five plus
# seven is thirteen" too (it copies an example's words when unsure), so the example is a product whose
# result no everyday sum shares, written in digits.
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("What is the capital of Peru?", "The capital of Peru is Lima."),
    ("What is nine times three?", "9 times 3 is 27."),
    ("How many hours are in three days?", "A day has 24 hours, so three days have 72 hours."),
    ("What do you call a baby horse?", "A baby horse is called a foal."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
    ("What does a barometer measure?", "A barometer measures air pressure."),
    ("日本的首都是哪里？", "日本的首都是东京。"),
)


class LocalChat:
    """An embedded llama.cpp model. One generation at a time: a llama context is not thread-safe."""

    def __init__(self, settings: Settings) -> None:
        from llama_cpp import Llama

        self.source: ModelSource = resolve_gguf(settings.local_model, settings.models_dir)
        started = time.perf_counter()
        # llama.cpp's own default writes with half the cores: on 2 cores that is one thread and half the
        # speed (bench/brain.py: 12 vs 21 tokens/s for the default model). The CPU gate already pauses the
        # model between tokens while speech is transcribed or a first sentence synthesized.
        self.threads = settings.local_threads or available_cores()
        self._llama = Llama(
            model_path=self.source.path,
            n_ctx=settings.local_context,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            verbose=False,
        )
        self._system_prompt = settings.system_prompt
        self._examples: list[Message] = [
            {"role": role, "content": text}
            for question, answer in (EXAMPLES if settings.local_examples else ())
            for role, text in (("user", question), ("assistant", answer))
        ]
        self.context = settings.local_context
        self.max_tokens = settings.chat_max_tokens
        # One thread runs every generation, one at a time (a llama context is not thread-safe): llama.cpp
        # and the allocator keep per-thread buffers, and a pool handing generations to ever different
        # threads made the server's memory creep.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self.warm()
        self.load_ms = (time.perf_counter() - started) * 1000
        # Free the model before interpreter teardown; llama_cpp's own __del__ runs too late and prints errors.
        atexit.register(self._llama.close)
        self.max_sentences = settings.local_max_sentences
        self.settings = settings  # for the turn's chunker: the same first piece as the turn cuts
        self.temperature = settings.local_temperature
        self._queued = 0  # generations waiting for the model or running on it
        self._queued_lock = threading.Lock()
        self._generation_ms = 1500.0  # moving average of one generation's time on the model
        self.admission_wait_ms = settings.chat_admission_wait_ms
        self.max_wait_ms = settings.chat_max_wait_ms
        self.brief_when_busy = settings.chat_brief_when_busy
        self.stats: Counter[str] = Counter()  # replies refused after waiting ("busy") or cut short
        name = self.source.path.rsplit("/", 1)[-1]
        self.description = f"llama.cpp {name} from {self.source.origin}"

    supports_tools = False  # media requests from this model go through the deterministic router
    remote = False

    def warm(self) -> None:
        """Forget the cached prompt and read the system prompt: llama.cpp reuses the cached prefix of the
        last prompt, so a new session's first reply starts almost as soon as later ones (with SmolLM2 the
        first token went from 167 to 90 ms). Safe at any time: it runs on the model's own thread, after the
        generation under way (called from another thread beside a running one, llama.cpp aborted the process
        with a GGML_ASSERT). Blocks until done; from async code, call it through `asyncio.to_thread`."""
        self._thread.submit(self._warm).result()

    def _warm(self) -> None:
        self._llama.reset()
        self._llama.create_chat_completion(
            messages=self._prompt([{"role": "system", "content": self._system_prompt},
                                   {"role": "user", "content": "Hi"}]),
            max_tokens=1,
        )

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[str | ToolCall]:
        wait = self.estimated_wait_ms()
        if self.max_wait_ms > 0 and wait > self.max_wait_ms:  # say so now rather than answer much later
            raise ChatError("chat_busy", f"the local model has about {wait / 1000:.0f} s of replies queued")
        with self._queued_lock:  # counted from now: threads waiting for an executor slot wait too
            ahead = self._queued  # replies the model writes before this one
            self._queued += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        asked = time.perf_counter()

        def run() -> None:
            try:
                if stop.is_set():  # given up while it waited (a barge-in, a discarded guess)
                    return
                began = time.perf_counter()
                waited_ms = (began - asked) * 1000
                if ahead and self.max_wait_ms > 0 and waited_ms > self.max_wait_ms:  # estimate was short
                    self.stats["busy"] += 1
                    loop.call_soon_threadsafe(queue.put_nowait, ("busy", waited_ms))
                    return
                written = ""
                sentences = 0  # complete sentences written so far
                # The turn cuts its first speakable piece with the same chunker: when this one has its first
                # piece, so has the turn, and the voice is about to start on it.
                first_piece = SentenceChunker.for_settings(self.settings)
                handed = False
                chunks = self._llama.create_chat_completion(
                    messages=self._prompt(messages),
                    stream=True,
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                )
                for chunk in chunks:
                    if stop.is_set():
                        break
                    delta = chunk["choices"][0]["delta"].get("content")
                    if delta:
                        if starts_new_sentence(written, delta):
                            sentences += 1
                            if self.max_sentences and sentences >= self.max_sentences:
                                # Spoken replies stay short, whatever a small model would go on to say.
                                self.stats["sentence_limit"] += 1
                                break
                            if self.brief_when_busy and self._queued > 1:
                                # Others wait for the model: a one-sentence answer now beats a full one
                                # that makes every later reply wait for it.
                                self.stats["shortened"] += 1
                                break
                        written += delta
                        mark = GATE.mark()
                        loop.call_soon_threadsafe(queue.put_nowait, ("text", delta))
                        if not handed and first_piece.feed(delta):
                            handed = True
                            GATE.hand_over(mark)  # the voice gets the CPU for the first piece from its start
                    # Let a transcription or a reply's first sentence have the CPU before the
                    # next token (the rest of this reply is needed only once audio plays).
                    GATE.yield_to_foreground()
                if not stop.is_set():  # a reply cut short says nothing about a full one's cost
                    elapsed = (time.perf_counter() - began) * 1000
                    self._generation_ms = 0.8 * self._generation_ms + 0.2 * elapsed
            except Exception as exc:  # reported to the session as a typed error
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            finally:
                with self._queued_lock:
                    self._queued -= 1
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))

        worker = loop.run_in_executor(self._thread, run)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise ChatError("chat_failed", f"the local model failed: {value}")
                elif kind == "busy":
                    raise ChatError("chat_busy", f"the reply waited {value / 1000:.0f} s for the local model")
                else:
                    break
        finally:
            stop.set()
            await asyncio.shield(worker)

    def estimated_wait_ms(self) -> float:
        """How long a reply asked for now would wait for the model (one generation runs at a time)."""
        return self._queued * self._generation_ms

    def overloaded(self) -> str | None:
        """Why a new session should be refused now, or None: replies would queue too long for the model."""
        wait = self.estimated_wait_ms()
        if self.admission_wait_ms > 0 and wait > self.admission_wait_ms:
            return f"the local chat model is at capacity (about {wait / 1000:.0f} s of replies queued)"
        return None

    def _prompt(self, messages: list[Message]) -> list[Message]:
        """The conversation that fits, with the examples after its system prompt when that is the server's.

        A session's own system prompt (a persona, a task) gets no examples: they were written for the
        default assistant, and its prefix is not the cached one, so the examples would cost a cold prompt
        (about 3.4 s instead of 1 s on 2 cores, bench/brain.py --cold) on every such conversation.
        """
        kept = self._fit(messages)
        system = str(kept[0].get("content", "")) if kept and kept[0].get("role") == "system" else None
        if not self._examples or system is None or not system.startswith(self._system_prompt):
            return kept
        return [kept[0], *self._examples, *kept[1:]]

    def _fit(self, messages: list[Message]) -> list[Message]:
        """Drop the oldest turns until the prompt (examples included) leaves room for the reply."""
        examples = "".join(str(m["content"]) for m in self._examples)
        budget = (self.context - self.max_tokens - 32 - 8 * len(self._examples)
                  - len(self._llama.tokenize(examples.encode(), add_bos=False)))
        kept = list(messages)
        while len(kept) > 2:
            text = "".join(str(m.get("content", "")) for m in kept)
            if len(self._llama.tokenize(text.encode(), add_bos=False)) + 8 * len(kept) <= budget:
                break
            del kept[1]  # the system prompt stays
        return kept


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def create_chat(settings: Settings) -> OpenAIChat | LocalChat:
    """A remote chat engine when a base URL is configured, else the embedded model."""
    if settings.openai_api_base_url:
        return OpenAIChat(settings)
    return LocalChat(settings)
