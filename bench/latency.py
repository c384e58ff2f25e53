"""Voice-to-voice latency: the real server against its raw engines, on the same utterances, in one run.

For each utterance (synthesized by Piper from known text) the client streams it at real-time pace over
/ws and records, from the moment it sent the last chunk of speech: final transcript, first reply token,
first reply audio. Then the raw engines are called directly on the same inputs: faster-whisper on the
utterance, the chat engine's first token on the same messages, Piper's first chunk of the same first
sentence. Server overhead = pipeline first audio - (VAD hangover + raw STT + raw first token + raw TTS).

    python bench/latency.py                      # offline default (bundled whisper base, SmolLM2, Piper)
    python bench/latency.py --chat-url http://127.0.0.1:11434 --chat-model llama3.2
    python bench/latency.py -n 20 --hangover-ms 500 --json bench/results/latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jiwer  # noqa: E402
import numpy as np  # noqa: E402

from tests.fakes.http import ServerThread  # noqa: E402
from tests.speech import piper_speech, silence  # noqa: E402
from tests.wsclient import NativeClient  # noqa: E402
from voicechat.app import create_app  # noqa: E402
from voicechat.engines import load_engines  # noqa: E402
from voicechat.sentences import SentenceChunker  # noqa: E402
from voicechat.settings import Settings  # noqa: E402
from voicechat.stt import normalise  # noqa: E402

UTTERANCES = [
    "What is the capital of France?",
    "Turn off the bedroom lights.",
    "How tall is Mount Everest?",
    "What time is it in Tokyo?",
    "Please remind me to water the plants tomorrow morning.",
    "Tell me everything about the history of Rome.",
    "Close the living room curtains.",
    "Open the front door, please.",
    "Remember to buy fresh bread and a bottle of orange juice.",
    "What is the weather like in Berlin today?",
    "Can you recommend a good book about space?",
    "How many days are there in a leap year?",
    "Play some relaxing music in the kitchen.",
    "What is the boiling point of water?",
    "Tell me a short joke about cats.",
    "Who painted the Mona Lisa?",
]
CHUNK_MS = 20


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def pipeline_turn(url: str, speech: bytes, rate: int = 16000) -> dict[str, Any]:
    """Stream lead silence + speech + trailing silence at real-time pace; time events from speech end."""
    client = await NativeClient.connect(url)
    lead, tail = silence(400, rate), silence(1500, rate)
    audio = lead + speech + tail
    speech_end_byte = len(lead) + len(speech)
    step = rate * 2 * CHUNK_MS // 1000
    marks: dict[str, float] = {}
    speech_end_at = 0.0

    async def listen() -> dict[str, Any]:
        while True:
            event = await client.next(timeout=120)
            kind = event["type"]
            now = time.perf_counter()
            if kind == "transcript":
                marks.setdefault("transcript", now)
            elif kind == "reply.text.delta":
                marks.setdefault("first_token", now)
            elif kind == "reply.audio.start":
                marks.setdefault("first_audio", now)  # the first binary frame follows immediately
            elif kind == "turn.done":
                return event

    listener = asyncio.create_task(listen())
    started = time.perf_counter()
    for index, offset in enumerate(range(0, len(audio), step)):
        await client.send_raw(audio[offset : offset + step])
        if offset < speech_end_byte <= offset + step:
            speech_end_at = time.perf_counter()
        delay = started + (index + 1) * CHUNK_MS / 1000 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    done = await listener
    deltas = "".join(e["delta"] for e in client.events if e["type"] == "reply.text.delta")
    await client.close()
    client_ms = {k: (v - speech_end_at) * 1000 for k, v in marks.items()}
    return {"done": done, "client_ms": client_ms, "reply": deltas}


async def raw_engines(engines: Any, settings: Settings, speech: bytes, reply: str) -> dict[str, Any]:
    """The same work, engines called directly, no server in between."""
    stt_start = time.perf_counter()
    transcript = await engines.stt.transcribe(speech, settings.language)
    stt_ms = (time.perf_counter() - stt_start) * 1000
    messages = [{"role": "system", "content": settings.system_prompt},
                {"role": "user", "content": transcript.text}]
    reset_prompt_cache(engines)
    chat_start = time.perf_counter()
    first_token_ms = first_piece_ms = float("nan")
    chunker = SentenceChunker(first_chunk_chars=settings.tts_first_chunk_chars)
    pieces: list[str] = []
    stream = engines.chat.stream(messages)
    async for delta in stream:
        if first_token_ms != first_token_ms:
            first_token_ms = (time.perf_counter() - chat_start) * 1000
        pieces = chunker.feed(delta)
        if pieces:
            first_piece_ms = (time.perf_counter() - chat_start) * 1000
            break
    await stream.aclose()
    if not pieces:  # the whole reply was one short sentence; the server speaks it at the end too
        first_piece_ms = (time.perf_counter() - chat_start) * 1000
        chunker = SentenceChunker(first_chunk_chars=settings.tts_first_chunk_chars)
        pieces = chunker.feed(reply) + chunker.flush()
    piper = next(e for e in engines.tts.engines if e.name == "piper")
    tts_start = time.perf_counter()
    async for _chunk in piper.synthesize(pieces[0] if pieces else "Okay."):
        break
    tts_ms = (time.perf_counter() - tts_start) * 1000
    return {"stt_ms": stt_ms, "first_token_ms": first_token_ms, "first_piece_ms": first_piece_ms,
            "tts_first_ms": tts_ms, "text": transcript.text}


def reset_prompt_cache(engines: Any) -> None:
    """llama.cpp reuses the longest cached prompt prefix; the pipeline and the raw call must start equal."""
    llama = getattr(engines.chat, "_llama", None)
    if llama is not None:
        llama.reset()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"port": 0, "vad_hangover_ms": args.hangover_ms}
    if args.chat_url:
        overrides.update(openai_api_base_url=args.chat_url, chat_model=args.chat_model)
    settings = Settings(**overrides)
    engines = load_engines(settings)
    server = ServerThread(create_app(settings, engines=engines)).start()
    url = f"ws://127.0.0.1:{server.port}/ws"
    texts = (UTTERANCES * 4)[: args.n]
    rows = []
    try:
        await pipeline_turn(url, piper_speech("Warm up."))  # first-call costs are not the steady state
        for text in texts:
            speech = piper_speech(text)
            reset_prompt_cache(engines)
            turn = await pipeline_turn(url, speech)
            raw = await raw_engines(engines, settings, speech, turn["reply"])
            rows.append({"text": text, **turn, "raw": raw})
            timings = turn["done"]["timings"]
            print(f"  {text[:40]:40s} transcript {timings['transcript_ms']:5d} ms  first audio "
                  f"{timings['first_audio_ms']:5d} ms  raw sum "
                  f"{raw_sum({'raw': raw}, args.hangover_ms, 'first_piece_ms'):6.0f} ms",
                  flush=True)
    finally:
        server.stop()
    return summarize(rows, args.hangover_ms, engines.describe())


def raw_sum(row: dict[str, Any], hangover_ms: int, chat_key: str) -> float:
    raw = row["raw"]
    return hangover_ms + raw["stt_ms"] + raw[chat_key] + raw["tts_first_ms"]


def overhead(row: dict[str, Any], hangover_ms: int, chat_key: str) -> float:
    return row["client_ms"].get("first_audio", float("nan")) - raw_sum(row, hangover_ms, chat_key)


def summarize(rows: list[dict[str, Any]], hangover_ms: int, engines: dict[str, Any]) -> dict[str, Any]:
    def series(fn: Any) -> list[float]:
        return [float(v) for v in (fn(r) for r in rows) if v is not None and v == v]

    figures = {
        "server: speech end -> transcript": series(lambda r: r["done"]["timings"]["transcript_ms"]),
        "server: speech end -> first token": series(lambda r: r["done"]["timings"]["first_token_ms"]),
        "server: speech end -> first audio": series(lambda r: r["done"]["timings"]["first_audio_ms"]),
        "client: speech end -> transcript": series(lambda r: r["client_ms"].get("transcript")),
        "client: speech end -> first token": series(lambda r: r["client_ms"].get("first_token")),
        "client: speech end -> first audio": series(lambda r: r["client_ms"].get("first_audio")),
        "raw: faster-whisper": series(lambda r: r["raw"]["stt_ms"]),
        "raw: chat first token": series(lambda r: r["raw"]["first_token_ms"]),
        "raw: chat first speakable piece": series(lambda r: r["raw"]["first_piece_ms"]),
        "raw: piper first chunk": series(lambda r: r["raw"]["tts_first_ms"]),
        "raw: hangover+stt+first token+tts": series(lambda r: raw_sum(r, hangover_ms, "first_token_ms")),
        "raw: hangover+stt+first piece+tts": series(lambda r: raw_sum(r, hangover_ms, "first_piece_ms")),
        "overhead vs raw (first token)": series(lambda r: overhead(r, hangover_ms, "first_token_ms")),
        "overhead vs raw (first piece)": series(lambda r: overhead(r, hangover_ms, "first_piece_ms")),
    }
    refs = " ".join(normalise(r["text"]) for r in rows)
    pipeline_wer = jiwer.wer(refs, " ".join(normalise(r["done"]["user_text"]) for r in rows))
    raw_wer = jiwer.wer(refs, " ".join(normalise(r["raw"]["text"]) for r in rows))
    print(f"\n{len(rows)} utterances, VAD hangover {hangover_ms} ms")
    for role, text in engines.items():
        print(f"  {role}: {text}")
    print(f"\n{'figure':42s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, values in figures.items():
        print(f"{name:42s} {pct(values, 50):8.0f} {pct(values, 95):8.0f}")
    print(f"\nword error rate: pipeline {pipeline_wer:.3f}, raw faster-whisper {raw_wer:.3f} "
          f"(difference {100 * (pipeline_wer - raw_wer):+.1f} points)")
    return {
        "utterances": len(rows),
        "hangover_ms": hangover_ms,
        "engines": engines,
        "figures": {k: {"p50": pct(v, 50), "p95": pct(v, 95), "mean": statistics.fmean(v) if v else None}
                    for k, v in figures.items()},
        "wer": {"pipeline": pipeline_wer, "raw": raw_wer},
        "rows": [{"text": r["text"], "timings": r["done"]["timings"], "client_ms": r["client_ms"],
                  "raw": r["raw"], "transcript": r["done"]["user_text"]} for r in rows],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=12, help="utterances (default 12)")
    parser.add_argument("--hangover-ms", type=int, default=500, help="VAD silence that ends an utterance")
    parser.add_argument("--chat-url", help="OpenAI-compatible base URL (default: the bundled local model)")
    parser.add_argument("--chat-model", default="gpt-4o-mini")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latency.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
