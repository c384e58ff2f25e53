"""What the first speakable piece of a reply waits for, and what a shorter one would buy and cost.

The first reply audio waits for the chat model's first speakable piece (a sentence, or a clause of a long
one) and then for the voice to synthesize it. This streams the local chat model's reply to each question of
bench/latency.py (typed, as the transcript would read, the system prompt cached as in a server), records
when every token arrived, and replays the same token stream through several ways of cutting the first
piece. For each: when the piece was ready (from the moment the model was asked), how long Piper took to
synthesize it, their sum (the first audio, minus the transcription before it), and, for cuts inside a
sentence, what the listener gets at the seam: the silence between the two pieces' audio (against the
longest pause Piper puts inside the same sentence spoken whole), and whether the second piece's audio was
ready before the first finished playing (if not, the reply stalls mid-sentence).

    python bench/first_piece.py
    VOICECHAT_LOCAL_MODEL=tiny python bench/first_piece.py -n 8
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

import benchkit  # noqa: I001  (first: puts the checkout on sys.path)
import numpy as np
from benchkit import pct
from latency import UTTERANCES

from voicechat.llm import create_chat
from voicechat.sentences import SentenceChunker, clean_for_speech
from voicechat.settings import Settings
from voicechat.tts import PiperTTS

_CLAUSE = re.compile(r"(?<!\d)[,;:]")  # after a letter: never the "8,849" of a number
SILENT = 300  # |sample| below this counts as silence (PCM16), for the seam measure


def sentence_policy(first_chunk_chars: int, first_words: int = 0) -> Any:
    """The server's chunker (`first_words`: VOICECHAT_TTS_FIRST_PIECE_WORDS): the first piece is its first
    output."""
    def cut(deltas: list[str]) -> tuple[int, str] | None:
        chunker = SentenceChunker(first_chunk_chars=first_chunk_chars, first_words=first_words)
        for index, delta in enumerate(deltas):
            pieces = chunker.feed(delta)
            if pieces:
                return index, pieces[0]
        rest = chunker.flush()
        return (len(deltas), rest[0]) if rest else None
    return cut


def waiting_for_space(cut: Any) -> Any:
    """The chunker before this session: a final dot at the end of the text waited for the next token."""
    def later(deltas: list[str]) -> tuple[int, str] | None:
        found = cut(deltas)
        if found is None:
            return None
        index, piece = found
        written = "".join(deltas[: index + 1])
        if index < len(deltas) and written.endswith("."):
            return index + 1, piece  # the next token (or the end of the stream) showed what followed
        return found
    return later


def clause_policy(min_words: int) -> Any:
    """First piece at the first comma, semicolon or colon with at least `min_words` words before it."""
    sentence = sentence_policy(60)

    def cut(deltas: list[str]) -> tuple[int, str] | None:
        written = ""
        for index, delta in enumerate(deltas):
            written += delta
            for match in _CLAUSE.finditer(written):
                head = written[: match.end()]
                if len(head.split()) >= min_words:
                    return index, clean_for_speech(head)
            found = sentence(deltas[: index + 1])
            if found is not None and found[0] <= index:
                return found
        return sentence(deltas)
    return cut


POLICIES = {
    "sentence, waiting for the next token (before)": waiting_for_space(sentence_policy(60)),
    "sentence (now: a word's final dot is enough)": sentence_policy(60),
    "clause >= 3 words": clause_policy(3),
    "clause >= 5 words": clause_policy(5),
    "first 4 words (VOICECHAT_TTS_FIRST_PIECE_WORDS=4)": sentence_policy(60, 4),
    "first 6 words (VOICECHAT_TTS_FIRST_PIECE_WORDS=6)": sentence_policy(60, 6),
}


def edge_silence_ms(pcm: bytes, rate: int, tail: bool) -> float:
    samples = np.abs(np.frombuffer(pcm, dtype=np.int16))
    loud = np.nonzero(samples > SILENT)[0]
    if not len(loud):
        return len(samples) / rate * 1000
    quiet = len(samples) - 1 - loud[-1] if tail else loud[0]
    return quiet / rate * 1000


def longest_inner_pause_ms(pcm: bytes, rate: int, window_ms: int = 10) -> float:
    """The longest run of quiet 10 ms windows between the first and last loud ones."""
    samples = np.abs(np.frombuffer(pcm, dtype=np.int16))
    step = rate * window_ms // 1000
    loud = [bool((samples[i : i + step] > SILENT).any()) for i in range(0, len(samples), step)]
    if True not in loud:
        return 0.0
    first, last = loud.index(True), len(loud) - 1 - loud[::-1].index(True)
    longest = run = 0
    for flag in loud[first : last + 1]:
        run = 0 if flag else run + 1
        longest = max(longest, run)
    return float(longest * window_ms)


def seam(f: dict[str, list[float]], piper: PiperTTS, deltas: list[str], times: list[float],
         whole_first: str, piece: str, pcm: bytes, audio_at: float) -> None:
    """A cut inside the first sentence: the silence at the seam, and whether the rest came in time."""
    rest = clean_for_speech(whole_first[len(piece):])
    written = [len("".join(deltas[: i + 1]).strip()) for i in range(len(deltas))]
    rest_cut = next((i for i, n in enumerate(written) if n >= len(whole_first)), len(deltas) - 1)
    started = time.perf_counter()
    rest_pcm = piper.synthesize_sync(rest)
    rest_tts = (time.perf_counter() - started) * 1000
    whole = piper.synthesize_sync(whole_first)
    rate = piper.rate
    f.setdefault("seam silence", []).append(edge_silence_ms(pcm, rate, tail=True)
                                            + edge_silence_ms(rest_pcm, rate, tail=False))
    f.setdefault("longest pause, sentence whole", []).append(longest_inner_pause_ms(whole, rate))
    playing_until = audio_at + len(pcm) / 2 / rate * 1000
    rest_ready = max(times[rest_cut], audio_at) + rest_tts  # one voice: after piece one
    f.setdefault("stall before the rest", []).append(max(0.0, rest_ready - playing_until))


async def record(chat: Any, settings: Settings, question: str) -> tuple[list[str], list[float], float]:
    """The reply's deltas, each one's arrival (ms after asking) and the end of the stream."""
    chat.warm()  # the system prompt cached, nothing else: a new session's state
    messages = [{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": question}]
    deltas: list[str] = []
    times: list[float] = []
    asked = time.perf_counter()
    async for delta in chat.stream(messages):
        deltas.append(delta)
        times.append((time.perf_counter() - asked) * 1000)
    return deltas, times, (time.perf_counter() - asked) * 1000


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    settings = benchkit.shipped(local_temperature=0.0)
    chat, piper = create_chat(settings), PiperTTS(settings)
    questions = (UTTERANCES * 4)[: args.n]
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in POLICIES}
    replies = []
    for question in questions:
        deltas, times, end_ms = await record(chat, settings, question)
        reply = "".join(deltas)
        replies.append({"question": question, "reply": reply})
        whole_first = (sentence_policy(10_000)(deltas) or (0, reply))[1]
        for name, policy in POLICIES.items():
            found = policy(deltas)
            if found is None:
                continue
            index, piece = found
            ready = times[index] if index < len(times) else end_ms
            started = time.perf_counter()
            pcm = piper.synthesize_sync(piece)
            tts_ms = (time.perf_counter() - started) * 1000
            f = figures[name]
            f.setdefault("piece ready", []).append(ready)
            f.setdefault("piper", []).append(tts_ms)
            f.setdefault("first audio (ready + piper)", []).append(ready + tts_ms)
            f.setdefault("words in first piece", []).append(len(piece.split()))
            if len(piece) < len(whole_first) and whole_first.startswith(piece.rstrip(",;:")):
                seam(f, piper, deltas, times, whole_first, piece, pcm, ready + tts_ms)
        print(f"  {question[:44]:44s} {reply[:70]!r}", flush=True)
    print(f"\n{len(questions)} questions, {chat.description}; ms from the moment the model was asked")
    for name, f in figures.items():
        print(f"\n{name}")
        for figure, values in f.items():
            print(f"  {figure:34s} p50 {pct(values, 50):7.0f}  p95 {pct(values, 95):7.0f}  (n={len(values)})")
    return {"chat": chat.description, "replies": replies,
            "figures": {n: {k: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for k, v in f.items()}
                        for n, f in figures.items()}}


def main() -> int:
    parser = benchkit.parser(__doc__, models_dir=False)
    parser.add_argument("-n", type=int, default=16, help="questions (default 16)")
    parser.add_argument("--json", type=Path, default=benchkit.ROOT / "bench" / "results" / "first_piece.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    benchkit.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
