"""Side by side: end of audio -> final transcript on voicechat, WhisperLive and wyoming-faster-whisper.

Same machine, same model folder (the bundled whisper base, CTranslate2 int8 on the CPU, 2 threads each),
same Piper-synthesized utterances, 1, 4 and 8 concurrent clients. Each server runs alone (started, warmed
up with one utterance, measured, stopped) before the next one starts, all in one invocation.

Every client streams PCM at real-time pace in messages of the size that server's own client sends
(voicechat 20 ms, WhisperLive 256 ms, Wyoming 64 ms; `--chunk-ms` forces one size); a message leaves when
the audio it holds has been "spoken", like a microphone's. Piper's own trailing silence (130-170 ms below
-50 dBFS) is cut, and silence is prepended so that the last speech sample ends a message exactly: **end of
speech** is the moment the message holding the last speech sample (the last 10 ms above -50 dBFS) has been
written to the socket.
Every latency below is measured on the client from that moment to the arrival of the final transcript.

Scenarios (rows of the table):

- `voicechat vad` - hands-free, one WebSocket per client (`/ws`, `auto_respond: false`, so no chat
  model runs). The client keeps streaming silence after the speech, like a live microphone, until the
  `transcript` event; the VAD hangover (`VOICECHAT_VAD_HANGOVER_MS`) is part of the figure.
- `voicechat ptt` - push to talk on the same server: `input.commit` is sent right after the last speech
  chunk, nothing after it. The exact analogue of Wyoming's AudioStop.
- `whisperlive stream` - WhisperLive's own protocol (JSON options, float32 frames), one WebSocket per
  client, silence streamed after the speech like a live microphone. Final = the first `segments`
  message in which every segment overlapping the utterance is `completed`. Also reported: when the
  text shown for the utterance last changed before that (it is not marked final then).
- `whisperlive eoa` - one connection per utterance: speech, then `END_OF_AUDIO`. WhisperLive 0.10.0
  closes the connection at once without transcribing the buffered audio again, so there is usually no
  message after END_OF_AUDIO: the row counts those as failures and scores the last text received.
- `wyoming` - wyoming-faster-whisper, one connection per utterance as Home Assistant does: Transcribe,
  AudioStart, chunks, AudioStop right after the last speech chunk, then Transcript.

For the explicit-end rows (ptt, eoa, wyoming) the end-of-input message leaves right after the last speech
chunk, so "after the last chunk sent" and "after the end of speech" are the same instant by design.

Each client says `--utterances` different sentences (bench/latency.py's list), one after the other, the
clients starting `--stagger-ms` apart so they overlap. A final that has not arrived `--timeout-s` after the
end of speech is a failure; no client starts an utterance later than `--budget-s` into a run.

    python bench/peers.py --clients 1,4,8 --utterances 3
    python bench/peers.py --clients 1 --only voicechat,wyoming
    python bench/peers.py --peers-python /work/peers-venv/bin/python      # where WhisperLive is installed

Writes `bench/results/peers.json` (every utterance, the summary, versions and the exact server commands).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import websockets  # noqa: E402

from tests.speech import piper_speech, silence, wer  # noqa: E402
from tests.wsclient import NativeClient  # noqa: E402
from voicechat.audio import Pacer  # noqa: E402
from voicechat.stt import normalise  # noqa: E402

RATE = 16000
BYTES_PER_S = RATE * 2
MODEL_DIR = ROOT / "models" / "whisper-base"
DEFAULT_PEERS_PYTHON = "/work/peers-venv/bin/python"
SERVERS = ("voicechat", "whisperlive", "wyoming")
# Audio per message, as each server's own client sends it: voicechat's page and CLI 20 ms, WhisperLive's
# Client 4096 samples, wyoming-satellite 1024 samples. WhisperLive appends every frame to its whole buffer
# (np.concatenate) on a thread per connection: fed 20 ms frames, 4 clients got no final within 120 s here.
CHUNK_MS = {"voicechat": 20, "whisperlive": 256, "wyoming": 64}
CPU_THREADS = 2
GAP_S = 0.3  # pause after a final before the client's next utterance
WARM_UP = "Warm up the model with this sentence."

# WhisperLive ships no server script in its wheel; this is its repository's run_server.py reduced to the
# options used here (faster_whisper backend, a local model folder, one shared model, 8 clients allowed).
WHISPERLIVE_LAUNCHER = """
import os, sys
os.environ.setdefault("OMP_NUM_THREADS", "2")
from whisper_live.server import TranscriptionServer
TranscriptionServer().run("127.0.0.1", port=int(sys.argv[1]), backend="faster_whisper",
                          faster_whisper_custom_model_path=sys.argv[2], single_model=True,
                          max_clients=int(sys.argv[3]), max_connection_time=3600)
"""

# WhisperLive's own client defaults (whisper_live/client.py), sent as the first message.
WHISPERLIVE_OPTIONS = {"language": "en", "task": "transcribe", "model": "base", "use_vad": True,
                       "send_last_n_segments": 10, "no_speech_thresh": 0.45, "clip_audio": False,
                       "same_output_threshold": 10}


def load_utterances() -> list[str]:
    """bench/latency.py's UTTERANCES, read without importing it (it imports the whole server)."""
    tree = ast.parse((ROOT / "bench" / "latency.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "UTTERANCES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("UTTERANCES not found in bench/latency.py")


# --- audio -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    text: str
    pcm: bytes  # lead silence + speech, PCM16 16 kHz; the speech ends exactly at the end of a chunk
    speech_start: int  # byte offset where the speech starts


def trim_tail(pcm: bytes, floor_dbfs: float = -50.0) -> bytes:
    """Cut Piper's trailing silence: the speech ends with the last 10 ms above `floor_dbfs` (RMS)."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    loud = np.nonzero(np.sqrt((frames**2).mean(axis=1)) > 10 ** (floor_dbfs / 20))[0]
    return pcm[: (int(loud[-1]) + 1) * 320] if len(loud) else pcm


def prepare(text: str, lead_ms: int, chunk_bytes: int) -> Utterance:
    speech = trim_tail(piper_speech(text))
    lead = silence(lead_ms)
    lead += bytes((-(len(lead) + len(speech))) % chunk_bytes)  # pad so the speech ends on a chunk edge
    return Utterance(text, lead + speech, len(lead))


def chunks(pcm: bytes, size: int) -> Iterator[bytes]:
    for offset in range(0, len(pcm), size):
        yield pcm[offset : offset + size]


# --- results -----------------------------------------------------------------------------------------


@dataclass
class Record:
    scenario: str
    clients: int
    client: int
    text: str
    transcript: str | None = None
    latency_ms: float | None = None  # end of speech -> final transcript
    error: str | None = None  # timeout, no_final, closed, ...
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    scenario: str
    clients: int
    utterances: int
    chunk_bytes: int
    timeout_s: float
    deadline: float  # no utterance starts after this (time.monotonic())
    url: str
    records: list[Record] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    audio: dict[str, Utterance] = field(default_factory=dict)

    def record(self, client: int, text: str) -> Record:
        rec = Record(self.scenario, self.clients, client, text)
        self.records.append(rec)
        return rec


# --- voicechat ---------------------------------------------------------------------------------------


class VoicechatTurns:
    """Follows speech.stopped / transcript events; an utterance is final once every piece the VAD cut
    from it (normally one) has its transcript and the piece that ends at the end of the speech is among
    them."""

    def __init__(self) -> None:
        self.reset(float("inf"))

    def reset(self, end_ms: float) -> None:
        self.end_ms = end_ms  # stream position of the end of speech
        self.stopped = 0  # speech.stopped (not ignored) since the utterance began
        self.ended = False  # a speech.stopped at or after the end of speech arrived
        self.texts: list[str] = []
        self.stopped_at: float | None = None
        self.final_at: float | None = None
        self.done = asyncio.Event()

    def on_event(self, event: dict[str, Any], now: float) -> None:
        kind = event.get("type")
        if kind == "speech.stopped" and not event.get("ignored"):
            self.stopped += 1
            if event.get("at_ms", 0) >= self.end_ms - 1000:  # webrtcvad may end a little early
                self.ended, self.stopped_at = True, now
        elif kind in ("transcript", "transcript.ignored"):
            self.texts.append(event.get("text", "") if kind == "transcript" else "")
            if self.ended and len(self.texts) >= self.stopped and not self.done.is_set():
                self.final_at = now
                self.done.set()


async def voicechat_connect(run: Run, mode: str) -> NativeClient | None:
    """Connect, retrying while the server refuses (close code 1013 when full or overloaded)."""
    while time.monotonic() < run.deadline:
        try:
            client = await NativeClient.connect(run.url)
            await client.update(turn_mode=mode, auto_respond=False)
            return client
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            run.refusals.append(f"close {code}")
        except (websockets.InvalidStatus, OSError) as exc:
            run.refusals.append(type(exc).__name__)
        await asyncio.sleep(1.0)
    return None


async def voicechat_client(run: Run, index: int, texts: list[str], mode: str) -> None:
    client = await voicechat_connect(run, mode)
    if client is None:
        for text in texts:
            run.record(index, text).error = "not_connected"
        return
    turns = VoicechatTurns()

    async def listen() -> None:
        while True:
            event = await client.next(timeout=3600)
            turns.on_event(event, time.monotonic())

    listener = asyncio.create_task(listen())
    pacer = Pacer(RATE)
    quiet = bytes(run.chunk_bytes)
    try:
        for text in texts:
            if time.monotonic() > run.deadline:
                break
            rec = run.record(index, text)
            utt = run.audio[text]
            if mode == "push_to_talk":
                pacer.restart()  # the button is pressed now; no audio flowed while it was up
            turns.reset(1000 * (pacer.position_s + len(utt.pcm) / BYTES_PER_S))
            for chunk in chunks(utt.pcm, run.chunk_bytes):
                await pacer.wait(len(chunk))
                await client.send_raw(chunk)
            speech_end = time.monotonic()
            if mode == "push_to_talk":
                await client.send({"type": "input.commit"})
            deadline = speech_end + run.timeout_s
            if mode == "push_to_talk":  # the button is up: nothing more is sent
                try:
                    await asyncio.wait_for(turns.done.wait(), run.timeout_s)
                except TimeoutError:
                    pass
            while (mode == "vad" and not turns.done.is_set() and time.monotonic() < deadline
                   and not listener.done()):
                await pacer.wait(len(quiet))  # a live microphone keeps sending silence
                await client.send_raw(quiet)
            if turns.final_at is None:
                rec.error = "closed" if listener.done() else "timeout"
                rec.transcript = " ".join(turns.texts) or None
                if listener.done():
                    break
                continue
            rec.transcript = " ".join(t.strip() for t in turns.texts).strip()
            rec.latency_ms = (turns.final_at - speech_end) * 1000
            if turns.stopped_at is not None:
                rec.extra["speech_stopped_ms"] = (turns.stopped_at - speech_end) * 1000
            if len(turns.texts) > 1:
                rec.extra["pieces"] = len(turns.texts)
            await gap(run, pacer, mode != "push_to_talk", client.send_raw)
    finally:
        listener.cancel()
        await client.close()


async def gap(run: Run, pacer: Pacer, stream: bool, send: Callable[[bytes], Awaitable[Any]]) -> None:
    """The pause before the next utterance: silence streamed (live microphone) or nothing sent."""
    quiet = bytes(run.chunk_bytes)
    until = time.monotonic() + GAP_S
    while time.monotonic() < until:
        if stream:
            await pacer.wait(len(quiet))
            await send(quiet)
        else:
            await asyncio.sleep(until - time.monotonic())



# --- WhisperLive -------------------------------------------------------------------------------------


def to_float32(pcm: bytes) -> bytes:
    return (np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0).tobytes()


async def whisperlive_connect(run: Run) -> tuple[websockets.ClientConnection, str] | None:
    """Open a stream; WhisperLive answers SERVER_READY, or WAIT (full) and closes."""
    while time.monotonic() < run.deadline:
        uid = uuid.uuid4().hex
        try:
            ws = await websockets.connect(run.url, max_size=None, max_queue=None, open_timeout=30)
            await ws.send(json.dumps({"uid": uid, **WHISPERLIVE_OPTIONS}))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if reply.get("message") == "SERVER_READY":
                    return ws, uid
                if reply.get("status") in ("WAIT", "ERROR"):
                    run.refusals.append(f"{reply['status']} {reply.get('message')}")
                    await ws.close()
                    break
        except (websockets.ConnectionClosed, websockets.InvalidStatus, OSError, TimeoutError) as exc:
            run.refusals.append(type(exc).__name__)
        await asyncio.sleep(1.0)
    return None


class Segments:
    """WhisperLive's segment messages for one utterance (stream positions in seconds)."""

    def __init__(self) -> None:
        self.reset(0.0, 0.0)

    def reset(self, start_s: float, end_s: float) -> None:
        self.start_s, self.end_s = start_s, end_s
        self.completed: dict[tuple[str, str], str] = {}
        self.history: list[tuple[float, str]] = []  # (arrival, text shown for the utterance)
        self.final_at: float | None = None
        self.final_text = ""
        self.last_text = ""
        self.done = asyncio.Event()

    def overlaps(self, seg: dict[str, Any]) -> bool:
        return float(seg["start"]) < self.end_s + 0.5 and float(seg["end"]) > self.start_s - 0.5

    def on_segments(self, segments: list[dict[str, Any]], now: float) -> None:
        mine = [s for s in segments if self.overlaps(s)]
        if not mine:
            return
        for seg in mine:
            if seg.get("completed"):
                self.completed[(seg["start"], seg["text"])] = seg["text"]
        shown = " ".join(s["text"].strip() for s in mine).strip()
        self.history.append((now, shown))
        self.last_text = shown
        if all(s.get("completed") for s in mine) and not self.done.is_set():
            self.final_at, self.final_text = now, " ".join(t.strip() for t in self.completed.values())
            self.done.set()

    def settled_at(self) -> float | None:
        """When the text shown for the utterance last changed before it was marked final."""
        if self.final_at is None:
            return None
        final = normalise(self.final_text)
        settled = None
        for at, text in self.history:
            if at > self.final_at:
                break
            if normalise(text) != final:
                settled = None
            elif settled is None:
                settled = at
        return settled


async def whisperlive_stream_client(run: Run, index: int, texts: list[str]) -> None:
    opened = await whisperlive_connect(run)
    if opened is None:
        for text in texts:
            run.record(index, text).error = "not_connected"
        return
    ws, _uid = opened
    segs = Segments()

    async def listen() -> None:
        async for message in ws:
            data = json.loads(message)
            if "segments" in data:
                segs.on_segments(data["segments"], time.monotonic())

    listener = asyncio.create_task(listen())
    pacer = Pacer(RATE)
    quiet = to_float32(bytes(run.chunk_bytes))
    try:
        for text in texts:
            if time.monotonic() > run.deadline or listener.done():
                break
            rec = run.record(index, text)
            utt = run.audio[text]
            begin = pacer.position_s
            segs.reset(begin + utt.speech_start / BYTES_PER_S, begin + len(utt.pcm) / BYTES_PER_S)
            for chunk in chunks(utt.pcm, run.chunk_bytes):
                await pacer.wait(len(chunk))
                await ws.send(to_float32(chunk))
            speech_end = time.monotonic()
            deadline = speech_end + run.timeout_s
            while not segs.done.is_set() and time.monotonic() < deadline and not listener.done():
                await pacer.wait(run.chunk_bytes)
                await ws.send(quiet)
            rec.extra["messages"] = len(segs.history)
            if segs.final_at is None:
                rec.error = "closed" if listener.done() else "timeout"
                rec.transcript = segs.last_text  # the text shown when the client gave up
                rec.extra["completed_seen"] = len(segs.completed)
                continue
            rec.transcript = segs.final_text
            rec.latency_ms = (segs.final_at - speech_end) * 1000
            settled = segs.settled_at()
            if settled is not None:
                rec.extra["text_settled_ms"] = (settled - speech_end) * 1000
            await gap(run, pacer, True, lambda pcm: ws.send(to_float32(pcm)))
    except websockets.ConnectionClosed:
        pass
    finally:
        listener.cancel()
        await ws.close()


async def whisperlive_eoa_client(run: Run, index: int, texts: list[str]) -> None:
    for text in texts:
        if time.monotonic() > run.deadline:
            break
        await whisperlive_eoa_once(run, run.record(index, text), run.audio[text])
        await asyncio.sleep(GAP_S)


async def whisperlive_eoa_once(run: Run, rec: Record, utt: Utterance) -> None:
    """One connection: the utterance, END_OF_AUDIO, then whatever arrives until the server closes."""
    opened = await whisperlive_connect(run)
    if opened is None:
        rec.error = "not_connected"
        return
    ws, _uid = opened
    seen: dict[str, Any] = {"text": "", "after_end": None, "end": float("inf")}

    async def listen() -> None:
        async for message in ws:
            data = json.loads(message)
            if data.get("segments"):
                seen["text"] = " ".join(s["text"].strip() for s in data["segments"]).strip()
                if time.monotonic() >= seen["end"]:
                    seen["after_end"] = time.monotonic()

    listener = asyncio.create_task(listen())
    pacer = Pacer(RATE)
    speech_end = float("nan")
    try:
        for chunk in chunks(utt.pcm, run.chunk_bytes):
            await pacer.wait(len(chunk))
            await ws.send(to_float32(chunk))
        speech_end = seen["end"] = time.monotonic()
        await ws.send(b"END_OF_AUDIO")
        await asyncio.wait_for(listener, run.timeout_s)  # ends when the server closes
        rec.extra["closed_ms"] = (time.monotonic() - speech_end) * 1000
    except (TimeoutError, websockets.ConnectionClosed):
        pass
    finally:
        listener.cancel()
        await ws.close()
    rec.transcript = seen["text"]  # what the client is left with, possibly nothing
    if seen["after_end"] is None:
        rec.error = "no_final"  # the server closed without a message after END_OF_AUDIO
    else:
        rec.latency_ms = (seen["after_end"] - speech_end) * 1000


# --- Wyoming -----------------------------------------------------------------------------------------


async def wyoming_client(run: Run, index: int, texts: list[str]) -> None:
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient

    host, port = run.url.removeprefix("tcp://").rsplit(":", 1)
    for text in texts:
        if time.monotonic() > run.deadline:
            break
        rec = run.record(index, text)
        utt = run.audio[text]
        client = AsyncTcpClient(host, int(port))
        try:
            await client.connect()
        except OSError as exc:
            run.refusals.append(type(exc).__name__)
            rec.error = "not_connected"
            continue
        try:
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
            pacer = Pacer(RATE)
            for chunk in chunks(utt.pcm, run.chunk_bytes):
                await pacer.wait(len(chunk))
                await client.write_event(AudioChunk(rate=RATE, width=2, channels=1, audio=chunk).event())
            speech_end = time.monotonic()
            await client.write_event(AudioStop().event())
            deadline = speech_end + run.timeout_s
            while True:
                event = await asyncio.wait_for(client.read_event(), max(0.01, deadline - time.monotonic()))
                if event is None:
                    rec.error = "closed"
                    break
                if Transcript.is_type(event.type):
                    rec.latency_ms = (time.monotonic() - speech_end) * 1000
                    rec.transcript = Transcript.from_event(event).text
                    break
        except TimeoutError:
            rec.error = "timeout"
        finally:
            await client.disconnect()
        await asyncio.sleep(GAP_S)


# --- servers -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    url: str
    proc: subprocess.Popen[str]
    log: list[str]

    def cpu_s(self) -> float:
        try:
            ticks = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")


def start(name: str, command: list[str], env: dict[str, str], ready: str, url: str | None,
          cwd: Path, timeout_s: float = 300) -> Server:
    """Start a server and wait for the log line matching `ready` (its group 1 is the port, if any)."""
    proc = subprocess.Popen(command, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    found: list[re.Match[str]] = []
    seen = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            if not seen.is_set() and (match := re.search(ready, line)):
                found.append(match)
                seen.set()
        seen.set()

    threading.Thread(target=reader, daemon=True).start()
    if not seen.wait(timeout_s) or not found:
        proc.kill()
        raise RuntimeError(f"{name} did not start:\n" + "".join(log[-40:]))
    if url is None:
        url = f"ws://127.0.0.1:{found[0].group(1)}/ws"
    return Server(name, command, env, url, proc, log)


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)


@contextmanager
def running(name: str, args: argparse.Namespace, data: Path) -> Iterator[Server]:
    threads = {"OMP_NUM_THREADS": str(CPU_THREADS)}
    if name == "voicechat":
        env = {**threads, "VOICECHAT_DB_PATH": str(data / "c.sqlite3"),
               "VOICECHAT_MEDIA_DB": str(data / "m.sqlite3"), "VOICECHAT_MEDIA_DIR": str(data / "media"),
               "VOICECHAT_MAX_CONNECTIONS_PER_MINUTE": "0", "VOICECHAT_STT_MODEL": str(MODEL_DIR),
               "VOICECHAT_STT_DEVICE": "cpu", "VOICECHAT_STT_COMPUTE_TYPE": "int8",
               "VOICECHAT_STT_CPU_THREADS": str(CPU_THREADS), "VOICECHAT_STT_BEAM_SIZE": "1",
               "VOICECHAT_LANGUAGE": "en",
               # auto_respond is off, so no chat model is ever asked; a remote URL skips loading the local one
               "OPENAI_API_BASE_URL": "http://127.0.0.1:9/v1"}
        if args.hangover_ms is not None:
            env["VOICECHAT_VAD_HANGOVER_MS"] = str(args.hangover_ms)
        server = start(name, [sys.executable, "server.py", "--port", "0"], env,
                       r"Uvicorn running on http://127\.0\.0\.1:(\d+)", None, ROOT)
    elif name == "whisperlive":
        port = free_port()
        command = [args.peers_python, "-c", WHISPERLIVE_LAUNCHER, str(port), str(MODEL_DIR),
                   str(max(4, *args.clients))]  # 4 is WhisperLive's default limit
        server = start(name, command, threads, r"server listening on", f"ws://127.0.0.1:{port}", data)
    else:
        port = free_port()
        command = [sys.executable, "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}",
                   "--model", str(MODEL_DIR), "--data-dir", str(data / "wyoming"), "--device", "cpu",
                   "--compute-type", "int8", "--beam-size", "1", "--cpu-threads", str(CPU_THREADS),
                   "--language", "en", "--local-files-only"]
        server = start(name, command, threads, r"Ready", f"tcp://127.0.0.1:{port}", data)
    try:
        yield server
    finally:
        stop(server)


ClientFn = Callable[[Run, int, list[str]], Awaitable[None]]
SCENARIOS: dict[str, list[tuple[str, ClientFn]]] = {
    "voicechat": [("voicechat vad", lambda r, i, t: voicechat_client(r, i, t, "vad")),
                  ("voicechat ptt", lambda r, i, t: voicechat_client(r, i, t, "push_to_talk"))],
    "whisperlive": [("whisperlive stream", whisperlive_stream_client),
                    ("whisperlive eoa", whisperlive_eoa_client)],
    "wyoming": [("wyoming", wyoming_client)],
}


async def run_clients(run: Run, fn: ClientFn, texts: list[str], stagger_s: float) -> None:
    async def one(index: int) -> None:
        await asyncio.sleep(index * stagger_s)
        mine = [texts[(index * run.utterances + k) % len(texts)] for k in range(run.utterances)]
        await fn(run, index, mine)

    await asyncio.gather(*(one(i) for i in range(run.clients)))


def measure(server: Server, scenario: str, fn: ClientFn, clients: int, args: argparse.Namespace,
            audio: dict[str, Utterance], texts: list[str]) -> dict[str, Any]:
    run = Run(scenario, clients, args.utterances, chunk_size(args, server.name), args.timeout_s,
              time.monotonic() + args.budget_s, server.url, audio=audio)
    cpu_before, began = server.cpu_s(), time.monotonic()
    asyncio.run(run_clients(run, fn, texts, args.stagger_ms / 1000))
    wall = time.monotonic() - began
    row = summarize(run, wall, server.cpu_s() - cpu_before)
    print(format_row(row), flush=True)
    return {**row, "records": [asdict(r) for r in run.records], "refusal_reasons": run.refusals}


def warm_up(server: Server, scenario: str, fn: ClientFn, args: argparse.Namespace,
            audio: dict[str, Utterance]) -> None:
    run = Run(scenario, 1, 1, chunk_size(args, server.name), max(args.timeout_s, 120),
              time.monotonic() + 300, server.url, audio=audio)
    asyncio.run(fn(run, 0, [WARM_UP]))
    rec = run.records[0] if run.records else None
    print(f"  warm-up {scenario}: {rec.latency_ms if rec else None} ms, {rec.transcript if rec else None!r}",
          flush=True)


def chunk_size(args: argparse.Namespace, server: str) -> int:
    return BYTES_PER_S * (args.chunk_ms or CHUNK_MS[server]) // 1000


# --- report ------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarize(run: Run, wall_s: float, cpu_s: float) -> dict[str, Any]:
    done = [r for r in run.records if r.latency_ms is not None]
    latencies = [r.latency_ms for r in done if r.latency_ms is not None]
    scored = [r for r in run.records if r.transcript is not None or r.latency_ms is not None]
    refs = [normalise(r.text) for r in scored]
    hyps = [normalise(r.transcript or "") for r in scored]
    extras: dict[str, dict[str, float | None]] = {}
    for key in sorted({k for r in run.records for k in r.extra}):
        values = [r.extra[key] for r in run.records if key in r.extra]
        extras[key] = {"p50": pct(values, 50), "p95": pct(values, 95), "n": len(values)}
    return {
        "scenario": run.scenario, "clients": run.clients, "attempted": len(run.records), "n": len(done),
        "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
        "mean_ms": round(float(np.mean(latencies)), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "failures": len(run.records) - len(done),
        "errors": {e: sum(r.error == e for r in run.records) for e in {r.error for r in run.records} if e},
        "refusals": len(run.refusals),
        "exact_match": round(sum(a == b for a, b in zip(refs, hyps, strict=True)) / len(refs), 3)
        if refs else None,
        "wer": round(wer(refs, hyps), 3) if refs else None,
        "scored": len(refs), "extras": extras, "wall_s": round(wall_s, 1),
        "server_cpu_s": round(cpu_s, 1),
    }  # fmt: skip


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def format_row(row: dict[str, Any]) -> str:
    match = "-" if row["exact_match"] is None else f"{100 * row['exact_match']:.0f}%"
    wer = "-" if row["wer"] is None else f"{row['wer']:.3f}"
    extras = "  ".join(f"{key.removesuffix('_ms')} p50 {fmt(v['p50'])} p95 {fmt(v['p95'])}"
                       for key, v in row["extras"].items() if key.endswith("_ms") and key != "closed_ms")
    return (f"{row['scenario']:20s} {row['clients']:3d} {fmt(row['p50_ms']):>7s} {fmt(row['p95_ms']):>7s} "
            f"{row['n']:3d}/{row['attempted']:<3d} {row['failures']:5d} {row['refusals']:5d} {match:>6s} "
            f"{wer:>6s} {row['server_cpu_s']:7.1f}  {extras}").rstrip()


HEADER = (f"{'scenario':20s} {'cli':>3s} {'p50 ms':>7s} {'p95 ms':>7s} {'n':>7s} {'fail':>5s} {'refus':>5s} "
          f"{'exact':>6s} {'WER':>6s} {'cpu s':>7s}")


def versions(peers_python: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def local(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    names = ["faster-whisper", "ctranslate2", "numpy", "websockets", "onnxruntime", "wyoming",
             "wyoming-faster-whisper", "tokenizers", "jiwer"]
    out: dict[str, Any] = {"python": platform.python_version(), **{n: local(n) for n in names}}
    probe = ("import json, importlib.metadata as m\nout = {}\n"
             "for n in ('whisper-live', 'faster-whisper', 'ctranslate2', 'torch', 'websockets', 'numpy'):\n"
             "    try: out[n] = m.version(n)\n"
             "    except m.PackageNotFoundError: out[n] = None\n"
             "print(json.dumps(out))")
    try:
        found = subprocess.run([peers_python, "-c", probe], capture_output=True, text=True, timeout=60)
        out["peers_venv"] = {"python": peers_python, **json.loads(found.stdout)}
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        out["peers_venv"] = {"python": peers_python, "error": str(exc)}
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "voicechat"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        out["voicechat"] = head + ("+uncommitted changes under voicechat/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        out["voicechat"] = None
    return out


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    mem_kb = int(found.group(1)) if found else 0
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "gpu": None, "kernel": platform.release(), "load_avg_at_start": os.getloadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--clients", default="1,4,8", help="comma-separated client counts (default 1,4,8)")
    add("--utterances", type=int, default=3, help="utterances per client (default 3)")
    add("--only", default=",".join(SERVERS), help="servers to run (default voicechat,whisperlive,wyoming)")
    add("--chunk-ms", type=int, help="audio per message for every server (default: as each one's client)")
    add("--lead-ms", type=int, default=300, help="silence before each utterance (default 300)")
    add("--stagger-ms", type=int, default=700, help="delay between client starts (default 700)")
    add("--timeout-s", type=float, default=180.0, help="wait for a final at most (default 180)")
    add("--budget-s", type=float, default=60.0, help="no utterance starts later into a run (default 60)")
    parser.add_argument("--hangover-ms", type=int, help="VOICECHAT_VAD_HANGOVER_MS (default: the server's)")
    parser.add_argument("--peers-python", default=DEFAULT_PEERS_PYTHON,
                        help=f"Python with whisper-live installed (default {DEFAULT_PEERS_PYTHON})")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "peers.json")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    if not (MODEL_DIR / "model.bin").exists():
        parser.error(f"{MODEL_DIR} is missing: start voicechat once (it assembles the bundled model)")

    texts = load_utterances()
    print(f"synthesizing {len(texts) + 1} utterances with Piper ...", flush=True)
    for text in [*texts, WARM_UP]:
        piper_speech(text)
    from voicechat.settings import Settings

    hangover = args.hangover_ms if args.hangover_ms is not None else Settings().vad_hangover_ms
    result: dict[str, Any] = {
        "machine": machine(), "versions": versions(args.peers_python),
        "settings": {"clients": args.clients, "utterances_per_client": args.utterances,
                     "chunk_ms": {n: args.chunk_ms or CHUNK_MS[n] for n in only},
                     "lead_ms": args.lead_ms, "gap_ms": GAP_S * 1000,
                     "stagger_ms": args.stagger_ms, "timeout_s": args.timeout_s, "budget_s": args.budget_s,
                     "voicechat_vad_hangover_ms": hangover, "cpu_threads": CPU_THREADS,
                     "model": str(MODEL_DIR), "whisperlive_options": WHISPERLIVE_OPTIONS},
        "speech_s": {t: round(len(trim_tail(piper_speech(t))) / BYTES_PER_S, 2) for t in [*texts, WARM_UP]},
        "servers": {}, "rows": [],
    }  # fmt: skip
    print(f"machine: {result['machine']}\nversions: {json.dumps(result['versions'])}", flush=True)
    with tempfile.TemporaryDirectory(prefix="voicechat-peers-") as tmp:
        for name in only:
            data = Path(tmp) / name
            data.mkdir()
            print(f"\n== {name}: starting", flush=True)
            audio = {t: prepare(t, args.lead_ms, chunk_size(args, name)) for t in [*texts, WARM_UP]}
            with running(name, args, data) as server:
                result["servers"][name] = {"command": server.command, "env": server.env, "url": server.url}
                print(f"   {' '.join(server.command[:3])} ... at {server.url}", flush=True)
                for scenario, fn in SCENARIOS[name]:
                    warm_up(server, scenario, fn, args, audio)
                print(HEADER, flush=True)
                for scenario, fn in SCENARIOS[name]:
                    for clients in args.clients:
                        result["rows"].append(measure(server, scenario, fn, clients, args, audio, texts))
                result["servers"][name]["log_tail"] = server.log[-30:]
    print("\n" + HEADER)
    for row in result["rows"]:
        print(format_row(row))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
