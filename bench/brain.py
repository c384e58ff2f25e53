"""The local brain alone, typed: does it answer right, and how soon is its first speakable piece ready?

Each question goes to the server's own `LocalChat` (shipped settings: system prompt, greedy sampling, the
sentence limit; VOICECHAT_* variables in the environment apply, so a changed setting can be compared) as a
fresh conversation: the system prompt and one user turn. Reported per model:

- answers right on the `tune` and the `held` half of bench/brain_questions.py (facts, arithmetic, units,
  definitions), on its `fresh` held-out set (written before the second round of tuning and never tuned on)
  and, with `--set all`, on bench/quality.py's 36 spoken questions typed;
- first token and first speakable piece (what the speech chunker hands to TTS first, as in a turn), from
  the call, p50 / p95; generation speed in tokens per second after the first token;
- sentences and words per reply.

`--cold` forgets llama.cpp's cached prompt before every question (every question reads the system prompt
again: what a server without prompt caching pays); by default the cache stays, as in the server.

    python bench/brain.py                                  # default model, all sets
    python bench/brain.py --models tiny,default,quality --set brain
    python bench/brain.py --cold -n 20                     # the first 20 questions, nothing cached
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchkit import ROOT, count_sentences, is_right, pct, plain_spoken  # noqa: I001  (first: puts the checkout on sys.path)

from bench.brain_questions import QUESTIONS, Question
from voicechat.llm import LocalChat
from voicechat.sentences import SentenceChunker
from voicechat.settings import Settings


def spoken_set() -> list[Question]:
    """bench/quality.py's spoken questions, typed (imported lazily: that module loads the speech stack)."""
    from bench.quality import QUESTIONS as SPOKEN

    return [Question(text, keys, "spoken set", "spoken") for text, keys in SPOKEN]


async def ask(chat: LocalChat, settings: Settings, question: Question, cold: bool) -> dict[str, Any]:
    if cold:
        chat._llama.reset()  # the next prompt is read from its first token
    chunker = SentenceChunker(first_chunk_chars=settings.tts_first_chunk_chars)
    messages = [{"role": "system", "content": settings.system_prompt},
                {"role": "user", "content": question.text}]
    reply = ""
    first_token = first_piece = None
    started = time.perf_counter()
    async for delta in chat.stream(messages):
        now = time.perf_counter()
        assert isinstance(delta, str)
        if first_token is None:
            first_token = now
        reply += delta
        if first_piece is None and chunker.feed(delta):
            first_piece = now
    ended = time.perf_counter()
    if first_piece is None:  # a reply shorter than one sentence is spoken when it ends
        first_piece = ended
    tokens = len(chat._llama.tokenize(reply.encode(), add_bos=False))
    first_token = first_token or ended
    speed = (tokens - 1) / (ended - first_token) if tokens > 1 and ended > first_token else float("nan")
    return {
        "question": question.text, "kind": question.kind, "half": question.half, "reply": reply,
        "right": is_right(reply, question.keywords), "first_token_ms": (first_token - started) * 1000,
        "first_piece_ms": (first_piece - started) * 1000, "tokens_per_s": speed,
        "sentences": count_sentences(reply), "words": len(reply.split()), "styled": plain_spoken(reply),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    halves = {h: [r["right"] for r in rows if r["half"] == h] for h in dict.fromkeys(r["half"] for r in rows)}
    kinds = {k: [r["right"] for r in rows if r["kind"] == k] for k in dict.fromkeys(r["kind"] for r in rows)}
    speeds = [r["tokens_per_s"] for r in rows if r["tokens_per_s"] == r["tokens_per_s"]]
    return {
        "right": {h: (sum(v), len(v)) for h, v in halves.items()},
        "right_by_kind": {k: (sum(v), len(v)) for k, v in kinds.items()},
        "first_token_p50_ms": pct([r["first_token_ms"] for r in rows], 50),
        "first_token_p95_ms": pct([r["first_token_ms"] for r in rows], 95),
        "first_piece_p50_ms": pct([r["first_piece_ms"] for r in rows], 50),
        "first_piece_p95_ms": pct([r["first_piece_ms"] for r in rows], 95),
        "tokens_per_s": statistics.median(speeds) if speeds else float("nan"),
        "sentences_mean": statistics.mean(r["sentences"] for r in rows),
        "sentences_max": max(r["sentences"] for r in rows),
        "words_mean": statistics.mean(r["words"] for r in rows),
        "over_three": sum(r["sentences"] > 3 for r in rows),
        "styled": sum(r["styled"] for r in rows) / len(rows),
    }


async def bench_model(model: str, questions: list[Question], cold: bool, verbose: bool) -> dict[str, Any]:
    models_dir = Path(os.environ.get("VOICECHAT_MODELS_DIR", ROOT / "models"))
    settings = Settings(_env_file=None, local_model=model, models_dir=models_dir)  # type: ignore[call-arg]
    chat = LocalChat(settings)
    rows = []
    for question in questions:
        row = await ask(chat, settings, question, cold)
        rows.append(row)
        if verbose:
            mark = "ok " if row["right"] else "BAD"
            print(f"  [{model}] {mark} {row['half']:6s} {row['first_token_ms']:5.0f} / "
                  f"{row['first_piece_ms']:5.0f} ms  {row['question']!r} -> {row['reply']!r}", flush=True)
    chat._llama.close()
    return {"model": model, "chat": chat.description, "load_ms": chat.load_ms, "cold": cold,
            **summary(rows), "rows": rows}


def table(results: list[dict[str, Any]]) -> str:
    halves = list(dict.fromkeys(h for r in results for h in r["right"]))
    head = " | ".join(f"right ({h})" for h in halves)
    lines = [f"| local model | {head} | first token p50 / p95 | first piece p50 / p95 | tokens/s "
             "| sentences / reply (max) | words / reply | no lists, markdown, code |",
             "|---|" + "---|" * len(halves) + "---|---|---|---|---|---|"]
    for r in results:
        cells = []
        for h in halves:
            right, total = r["right"].get(h, (0, 0))
            cells.append(f"**{right / total * 100:.0f} %** ({right}/{total})" if total else "")
        lines.append(
            f"| `{r['model']}`{' (cold)' if r['cold'] else ''} | {' | '.join(cells)} "
            f"| {r['first_token_p50_ms']:.0f} / {r['first_token_p95_ms']:.0f} ms "
            f"| {r['first_piece_p50_ms']:.0f} / {r['first_piece_p95_ms']:.0f} ms | {r['tokens_per_s']:.0f} "
            f"| {r['sentences_mean']:.1f} ({r['sentences_max']}) | {r['words_mean']:.0f} "
            f"| {r['styled'] * 100:.0f} % |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default", help="VOICECHAT_LOCAL_MODEL values, comma-separated")
    parser.add_argument("--set", choices=("brain", "spoken", "all"), default="all",
                        help="bench/brain_questions.py, bench/quality.py's spoken questions typed, or both")
    parser.add_argument("--half", choices=("tune", "held", "fresh", "both"), default="both",
                        help="which part of bench/brain_questions.py (`both`: all of them)")
    parser.add_argument("-n", type=int, default=0, help="only the first N questions (0 = all)")
    parser.add_argument("--cold", action="store_true", help="forget the cached prompt before every question")
    parser.add_argument("-q", "--quiet", action="store_true", help="no line per question")
    parser.add_argument("--json", type=Path, help="write every question's result here")
    args = parser.parse_args()
    questions: list[Question] = []
    if args.set in ("brain", "all"):
        questions += [q for q in QUESTIONS if args.half in ("both", q.half)]
    if args.set in ("spoken", "all"):
        questions += spoken_set()
    if args.n:
        questions = questions[: args.n]
    results = [asyncio.run(bench_model(model, questions, args.cold, not args.quiet))
               for model in args.models.split(",")]
    print()
    print(table(results))
    for r in results:
        kinds = ", ".join(f"{k} {a}/{b}" for k, (a, b) in r["right_by_kind"].items())
        print(f"{r['model']}: {r['chat']}; loaded in {r['load_ms']:.0f} ms; right by kind: {kinds}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
