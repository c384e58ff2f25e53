"""Voice-to-voice latency: the real server against its raw engines, on the same utterances, in one run.

For each utterance (synthesized by Piper from known text) the client streams it at real-time pace over
/ws and records, from the moment it sent the last chunk of speech: final transcript, first reply token,
first reply audio. It does so three times, against three servers on the same engines: the smart-turn
model ending turns (the default), the fixed VAD hangover with speculative finalization, and the hangover
without speculation. Then the raw engines are called
directly on the same inputs: whisper on the utterance (our short-window decode, and stock faster-whisper
`transcribe()` for reference), the chat engine on the same messages up to its first speakable piece,
Piper's first chunk of that piece.

- Waiting out the hangover: overhead = first audio - (hangover + raw STT + raw first piece + raw TTS).
- Speculative: margin = first audio - (raw STT + raw first piece + raw TTS): what the hangover still costs.

    python bench/latency.py                      # offline default (bundled whisper base, Qwen 0.5B, Piper)
    VOICECHAT_LOCAL_MODEL=tiny python bench/latency.py   # the tiny brain (SmolLM2-135M)
    python bench/latency.py --chat-url http://127.0.0.1:11434 --chat-model llama3.2
    python bench/latency.py -n 20 --hangover-ms 500 --json bench/results/latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import benchkit  # noqa: I001  (first: puts the checkout on sys.path)
from benchkit import pct

from tests.speech import piper_speech, silence, wer
from tests.wsclient import NativeClient
from voicechat.audio import Pacer, pcm16_to_float
from voicechat.sentences import SentenceChunker
from voicechat.settings import Settings
from voicechat.stt import normalise

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
    pacer = Pacer(rate, time.perf_counter)
    for offset in range(0, len(audio), step):
        await client.send_raw(audio[offset : offset + step])
        if offset < speech_end_byte <= offset + step:
            speech_end_at = time.perf_counter()
        await pacer.wait(step)
    # Like a microphone, go on sending silence until the turn is done: a pause the end-of-turn model judged
    # unfinished waits up to END_OF_TURN_MAX_MS of silence, longer than the tail above (the bench hung there).
    quiet = silence(CHUNK_MS, rate)
    while not listener.done():
        await client.send_raw(quiet)
        await pacer.wait(len(quiet))
    done = await listener
    deltas = "".join(e["delta"] for e in client.events if e["type"] == "reply.text.delta")
    await client.close()
    client_ms = {k: (v - speech_end_at) * 1000 for k, v in marks.items()}
    return {"done": done, "client_ms": client_ms, "reply": deltas}


async def raw_engines(engines: Any, settings: Settings, speech: bytes, reply: str) -> dict[str, Any]:
    """The same work, engines called directly, no server in between."""
    whisper = engines.stt.engine  # the model behind the server's scheduler
    framed = silence(300) + speech + silence(150)  # the pre-roll and tail the segmenter keeps
    stt_start = time.perf_counter()
    transcript = await asyncio.to_thread(whisper.transcribe_sync, framed, settings.language)
    stt_ms = (time.perf_counter() - stt_start) * 1000
    stock_start = time.perf_counter()
    await asyncio.to_thread(whisper._transcribe_full, pcm16_to_float(framed), settings.language, None, False)
    stock_ms = (time.perf_counter() - stock_start) * 1000
    messages = [{"role": "system", "content": settings.system_prompt},
                {"role": "user", "content": transcript.text}]
    reset_prompt_cache(engines)
    chat_start = time.perf_counter()
    first_token_ms = first_piece_ms = float("nan")
    chunker = SentenceChunker.for_settings(settings)
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
        chunker = SentenceChunker.for_settings(settings)
        pieces = chunker.feed(reply) + chunker.flush()
    piper = next(e for e in engines.tts.engines if e.name == "piper")
    tts_start = time.perf_counter()
    async for _chunk in piper.synthesize(pieces[0] if pieces else "Okay."):
        break
    tts_ms = (time.perf_counter() - tts_start) * 1000
    return {"stt_ms": stt_ms, "stock_stt_ms": stock_ms, "first_token_ms": first_token_ms,
            "first_piece_ms": first_piece_ms, "tts_first_ms": tts_ms, "text": transcript.text,
            "first_piece": pieces[0] if pieces else ""}


def reset_prompt_cache(engines: Any) -> None:
    """llama.cpp reuses the longest cached prompt prefix; the pipeline and the raw call must start equal,
    from the state a server is in when a new session speaks: the system prompt cached (as at startup)."""
    warm = getattr(engines.chat, "warm", None)
    if warm is not None:
        warm()


MODES = ("smart_turn", "speculative", "hangover")


async def barge_in_trial(url: str, rate: int = 16000) -> float:
    """Speech onset during a reply -> `reply.stop` at the client, in ms (from the first speech chunk sent)."""
    client = await NativeClient.connect(url)
    step = rate * 2 * CHUNK_MS // 1000
    question = silence(300, rate) + piper_speech("Tell me everything about the history of Rome.", rate)
    interruption = piper_speech("Stop, wait a moment.", rate) + silence(1500, rate)
    audio_started = asyncio.Event()
    stopped: list[float] = []

    async def listen() -> None:
        while True:
            event = await client.next(timeout=120)
            if event["type"] == "reply.audio.start":
                audio_started.set()
            elif event["type"] == "reply.stop":
                stopped.append(time.perf_counter())
                return

    listener = asyncio.create_task(listen())
    pacer = Pacer(rate, time.perf_counter)

    async def paced(pcm: bytes) -> None:
        for offset in range(0, len(pcm), step):
            await client.send_raw(pcm[offset : offset + step])
            await pacer.wait(step)

    await paced(question)
    while not audio_started.is_set():  # the microphone keeps delivering silence while the reply comes
        await paced(silence(CHUNK_MS, rate))
    await paced(silence(300, rate))  # the user listens a moment, then talks over the reply
    onset = time.perf_counter()
    await paced(interruption)
    await asyncio.wait_for(listener, 30)
    await client.close()
    return (stopped[0] - onset) * 1000


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    # Greedy decoding by default: both servers and the raw call then get the same reply to the same words.
    overrides: dict[str, Any] = {"port": 0, "vad_hangover_ms": args.hangover_ms,
                                 "chat_temperature": args.temperature, "local_temperature": args.temperature}
    if args.chat_url:
        overrides.update(openai_api_base_url=args.chat_url, chat_model=args.chat_model)
    settings = Settings(**overrides)
    # Three servers on the same models (each its own speech queue): the smart-turn model ending turns (with
    # speculation), the fixed hangover with speculation, and the fixed hangover without it.
    servers = {
        "smart_turn": Settings(**overrides, vad_speculate_ms=args.speculate_ms, end_of_turn="smart_turn"),
        "speculative": Settings(**overrides, vad_speculate_ms=args.speculate_ms, end_of_turn="hangover"),
        "hangover": Settings(**overrides, vad_speculate_ms=0, end_of_turn="hangover"),
    }
    servers = {mode: config for mode, config in servers.items() if mode in args.modes}
    texts = (UTTERANCES * 4)[: args.n]
    rows = []
    with benchkit.servers(servers) as running:
        engines = {mode: server.engines for mode, server in running.items()}
        urls = {mode: server.ws for mode, server in running.items()}
        for url in urls.values():
            await pipeline_turn(url, piper_speech("Warm up."))  # first-call costs are not the steady state
        for text in texts:
            speech = piper_speech(text)
            row: dict[str, Any] = {"text": text}
            for mode, url in urls.items():
                reset_prompt_cache(engines[mode])
                row[mode] = await pipeline_turn(url, speech)
            last = list(urls)[-1]
            row["raw"] = await raw_engines(engines[last], settings, speech, row[last]["reply"])
            rows.append(row)
            if args.barge_in:
                row["barge_in_ms"] = await barge_in_trial(urls[last])
            audio = ", ".join(f"{mode} {row[mode]['client_ms'].get('first_audio', 0):5.0f} ms"
                              for mode in urls)
            print(f"  {text[:40]:40s} first audio: {audio}, raw engines {raw_sum(row, 0):5.0f} ms",
                  flush=True)
    return summarize(rows, args.hangover_ms, engines[list(urls)[0]].describe(), list(urls))


def raw_sum(row: dict[str, Any], hangover_ms: int, chat_key: str = "first_piece_ms") -> float:
    raw = row["raw"]
    return hangover_ms + raw["stt_ms"] + raw[chat_key] + raw["tts_first_ms"]


def summarize(rows: list[dict[str, Any]], hangover_ms: int, engines: dict[str, Any],
              modes: list[str]) -> dict[str, Any]:
    def series(fn: Any) -> list[float]:
        values = []
        for row in rows:
            try:
                value = fn(row)
            except KeyError:  # a figure of a server this run did not start (--modes)
                continue
            if value is not None and value == value:
                values.append(float(value))
        return values

    def first_audio(mode: str) -> Any:
        return lambda r: r[mode]["client_ms"].get("first_audio", float("nan"))

    figures: dict[str, list[float]] = {}
    for mode in modes:
        figures[f"{mode}: server speech end -> transcript"] = series(
            lambda r, m=mode: r[m]["done"]["timings"]["transcript_ms"])
        figures[f"{mode}: server speech end -> first audio"] = series(
            lambda r, m=mode: r[m]["done"]["timings"]["first_audio_ms"])
        figures[f"{mode}: client speech end -> transcript"] = series(
            lambda r, m=mode: r[m]["client_ms"].get("transcript"))
        figures[f"{mode}: client speech end -> first audio"] = series(first_audio(mode))
    figures.update({
        "raw: whisper, short window (ours)": series(lambda r: r["raw"]["stt_ms"]),
        "raw: whisper, stock transcribe() 30 s": series(lambda r: r["raw"]["stock_stt_ms"]),
        "raw: chat first token": series(lambda r: r["raw"]["first_token_ms"]),
        "raw: chat first speakable piece": series(lambda r: r["raw"]["first_piece_ms"]),
        "raw: piper first chunk": series(lambda r: r["raw"]["tts_first_ms"]),
        "raw: stt+first piece+tts": series(lambda r: raw_sum(r, 0)),
        "raw: hangover+stt+first piece+tts": series(lambda r: raw_sum(r, hangover_ms)),
        "hangover: overhead vs raw incl. hangover": series(
            lambda r: first_audio("hangover")(r) - raw_sum(r, hangover_ms)),
        "speculative: first audio - raw (no hangover)": series(
            lambda r: first_audio("speculative")(r) - raw_sum(r, 0)),
        # The same two from the server's own speech end (the VAD's last voiced frame): the client's counts
        # from the last chunk holding speech, which Piper's quiet tail puts ~50 ms later.
        "hangover: overhead, from server speech end": series(
            lambda r: r["hangover"]["done"]["timings"]["first_audio_ms"] - raw_sum(r, hangover_ms)),
        "speculative: minus raw, from server speech end": series(
            lambda r: r["speculative"]["done"]["timings"]["first_audio_ms"] - raw_sum(r, 0)),
        "barge-in: speech onset -> reply.stop (client)": series(lambda r: r.get("barge_in_ms")),
        "speculative: time saved vs hangover": series(
            lambda r: first_audio("hangover")(r) - first_audio("speculative")(r)),
        "smart_turn: time saved vs speculative (fixed hangover)": series(
            lambda r: first_audio("speculative")(r) - first_audio("smart_turn")(r)),
        "smart_turn: first audio - raw (no hangover)": series(
            lambda r: first_audio("smart_turn")(r) - raw_sum(r, 0)),
    })
    figures.update(stage_figures(rows, modes))
    figures = {name: values for name, values in figures.items() if values}
    refs = " ".join(normalise(r["text"]) for r in rows)
    wers = {mode: wer(refs, " ".join(normalise(r[mode]["done"]["user_text"]) for r in rows))
            for mode in modes}
    wers["raw"] = wer(refs, " ".join(normalise(r["raw"]["text"]) for r in rows))
    print(f"\n{len(rows)} utterances, VAD hangover {hangover_ms} ms")
    for role, text in engines.items():
        print(f"  {role}: {text}")
    print(f"\n{'figure':54s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, values in figures.items():
        print(f"{name:54s} {pct(values, 50):8.0f} {pct(values, 95):8.0f}")
    print("\nword error rate: " + ", ".join(f"{k} {v:.3f}" for k, v in wers.items()))
    return {
        "utterances": len(rows),
        "hangover_ms": hangover_ms,
        "engines": engines,
        "figures": {k: {"p50": pct(v, 50), "p95": pct(v, 95), "mean": statistics.fmean(v) if v else None}
                    for k, v in figures.items()},
        "wer": wers,
        "rows": [{"text": r["text"], "raw": r["raw"], "barge_in_ms": r.get("barge_in_ms"),
                  **{m: {"timings": r[m]["done"]["timings"], "stages": r[m]["done"].get("stages"),
                         "client_ms": r[m]["client_ms"],
                         "transcript": r[m]["done"]["user_text"], "reply": r[m]["reply"]} for m in modes}}
                 for r in rows],
    }


# Where the server's time goes, from turn.done.stages: (figure, later stage, earlier stage); "" = speech end.
STAGE_SPANS = (
    ("turn queued (after speech end)", "queued", ""),
    ("stt waited for the model", "stt_start", "queued"),
    ("stt ran", "transcript", "stt_start"),
    ("transcript -> chat asked", "chat_asked", "transcript"),
    ("chat asked -> first speakable piece", "first_piece", "chat_asked"),
    ("first piece -> tts first chunk", "tts_first_chunk", "first_piece"),
    ("tts first chunk -> first audio sent", "first_audio", "tts_first_chunk"),
    ("first audio sent (after speech end)", "first_audio", ""),
)


def stage_figures(rows: list[dict[str, Any]], modes: list[str]) -> dict[str, list[float]]:
    """Each server's own stage timeline, span by span, to set next to the raw engines' figures."""
    figures: dict[str, list[float]] = {}
    for mode in modes:
        for name, later, earlier in STAGE_SPANS:
            values = []
            for row in rows:
                stages = row[mode]["done"].get("stages") or {}
                if later in stages and (not earlier or earlier in stages):
                    values.append(float(stages[later] - (stages[earlier] if earlier else 0)))
            figures[f"{mode} stage: {name}"] = values
    return figures


def main() -> int:
    parser = benchkit.parser(__doc__, models_dir=False)
    parser.add_argument("-n", type=int, default=12, help="utterances (default 12)")
    shipped = benchkit.shipped()
    parser.add_argument("--hangover-ms", type=int, default=shipped.vad_hangover_ms,
                        help="VAD silence that ends an utterance (the fixed-hangover servers)")
    parser.add_argument("--speculate-ms", type=int, default=shipped.vad_speculate_ms,
                        help="pause that starts a speculative turn")
    parser.add_argument("--modes", type=lambda v: v.split(","), default=list(MODES),
                        help="servers to run, comma-separated (default all: " + ",".join(MODES) + ")")
    parser.add_argument("--no-barge-in", dest="barge_in", action="store_false",
                        help="skip the barge-in trial after each utterance (a quicker look at the rest)")
    parser.add_argument("--temperature", type=float, default=0.0, help="chat sampling temperature")
    parser.add_argument("--chat-url", help="OpenAI-compatible base URL (default: the bundled local model)")
    parser.add_argument("--chat-model", default="gpt-4o-mini")
    parser.add_argument("--json", type=Path, default=benchkit.ROOT / "bench" / "results" / "latency.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    benchkit.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
