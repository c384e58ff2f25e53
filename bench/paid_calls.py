"""Paid calls per confirmed turn, and what holding a remote model back from guesses costs in latency.

A speculative turn starts at a short pause and is thrown away when the user goes on. With a remote chat
model every guess that reaches the model is a paid request. `VOICECHAT_SPECULATE_REMOTE_CHAT=false` (the
default) lets STT speculate but asks the remote model only once the hangover confirms the end of speech.

This runs a fake OpenAI-compatible model (a real HTTP server) with a realistic first-token time, and three
servers on the same whisper model: speculation with the remote model asked for guesses (the old
behaviour), speculation without (the default now), and no speculation at all. Each gets the same
utterances at real-time pace, the short ones of bench/latency.py and the longer ones with commas of
bench/speculation.py (pauses inside them start guesses that are discarded). It prints, per server, chat
requests per confirmed turn and the first reply audio after the end of speech (p50/p95).

    python bench/paid_calls.py
    python bench/paid_calls.py --first-token-ms 300 -n 20 --hangover-ms 600
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from benchkit import pct  # noqa: I001  (first: puts the checkout on sys.path)
from latency import UTTERANCES, pipeline_turn
from speculation import LONGER

from tests.fakes.http import ServerThread
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.speech import piper_speech
from voicechat.app import create_app
from voicechat.engines import load_engines
from voicechat.settings import Settings

MODES = {
    # name: (speculate ms, ask the remote model for guesses)
    "guesses asked (before)": (None, True),
    "guesses held (now)": (None, False),
    "no speculation": (0, False),
}


async def main_async(args: argparse.Namespace) -> None:
    fake = FakeOpenAIChat().start()
    fake.first_token_delay_s = args.first_token_ms / 1000
    threads: dict[str, ServerThread] = {}
    try:
        for index, (mode, (speculate_ms, ask)) in enumerate(MODES.items()):
            settings = Settings(
                _env_file=None,
                port=0,
                vad_hangover_ms=args.hangover_ms,
                openai_api_base_url=fake.base_url,
                openai_api_key=fake.api_key,
                chat_model=f"mode-{index}",  # tells the fake's requests apart
                speculate_remote_chat=ask,
                chat_tools=False,
                max_connections_per_minute=0,
                **({} if speculate_ms is None else {"vad_speculate_ms": speculate_ms}),
            )
            threads[mode] = ServerThread(create_app(settings, engines=load_engines(settings))).start()
        urls = {mode: f"ws://127.0.0.1:{t.port}/ws" for mode, t in threads.items()}
        for url in urls.values():
            await pipeline_turn(url, piper_speech("Warm up."))
        fake.requests.clear()
        texts = ((UTTERANCES + LONGER) * 4)[: args.n]
        rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for text in texts:
            speech = piper_speech(text)
            for mode, url in urls.items():
                rows[mode].append(await pipeline_turn(url, speech))
            firsts = [rows[m][-1]["client_ms"].get("first_audio", float("nan")) for m in MODES]
            print(f"  {text[:50]:50s} " + "  ".join(f"{ms:5.0f}" for ms in firsts), flush=True)
    finally:
        for thread in threads.values():
            thread.stop()
        fake.stop()
    print(f"\n{len(texts)} utterances, fake remote model first token {args.first_token_ms} ms, "
          f"hangover {args.hangover_ms} ms (default speculation pause)")
    print(f"{'server':24s} {'confirmed turns':>15s} {'chat calls':>10s} {'calls/turn':>10s} "
          f"{'first audio p50':>15s} {'p95':>6s}")
    for index, mode in enumerate(MODES):
        turns = [r for r in rows[mode] if r["done"]["status"] == "completed"]
        calls = sum(1 for r in fake.requests if r["body"].get("model") == f"mode-{index}")
        audio = [r["client_ms"]["first_audio"] for r in turns if "first_audio" in r["client_ms"]]
        print(f"{mode:24s} {len(turns):15d} {calls:10d} {calls / max(1, len(turns)):10.2f} "
              f"{pct(audio, 50):15.0f} {pct(audio, 95):6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20, help="utterances per server")
    parser.add_argument("--first-token-ms", type=int, default=300)
    parser.add_argument("--hangover-ms", type=int, default=600)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
