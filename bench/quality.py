"""Does the offline brain answer right, briefly, as speech? Spoken questions with known answers, through the
full voice path of a running server, for each local model side by side.

Each question is synthesized from text (Piper's bundled voice, or espeak-ng in three voices) and streamed at
real-time pace to `python server.py` (a subprocess, shipped defaults but for VOICECHAT_LOCAL_MODEL), one
fresh session per question, the microphone sending silence until the turn is done. Reported per model:

- answers right: the reply holds one of the question's answer keywords (whole words, case-insensitive);
- sentences per reply (the reply as written, cut as the speech chunker cuts it) and replies over three;
- style: replies with no list, markdown, code or emoji;
- first audio: from the last chunk of speech sent to `reply.audio.start` at the client, p50 / p95;
- heard right: the transcript's word error rate against the question text (mishearing is not the brain's
  fault, so it is shown next to the answers);
- the server's resident memory after the run.

    python bench/quality.py                                   # tiny, default and quality (if installed)
    python bench/quality.py --models default -n 12            # a quick look
    python bench/quality.py --json bench/results/quality.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import jiwer
from benchkit import ROOT, count_sentences, is_right, pct, plain_spoken  # noqa: I001  (first: the checkout)

from tests.process import ServerProcess
from tests.speech import espeak_speech, piper_speech, silence
from tests.wsclient import NativeClient
from voicechat.audio import resample_pcm16
from voicechat.stt import normalise

# (question, answer keywords: any one of them, as whole words, makes the answer right)
QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France?", ("paris",)),
    ("What is the capital of Japan?", ("tokyo",)),
    ("What is the largest ocean on Earth?", ("pacific",)),
    ("Who wrote Romeo and Juliet?", ("shakespeare",)),
    ("How many minutes are in three hours?", ("180", "one hundred eighty", "one hundred and eighty")),
    ("At what temperature in Celsius does water boil?", ("100", "hundred")),
    ("Which planet is known as the red planet?", ("mars",)),
    ("How many legs does a spider have?", ("eight", "8")),
    ("What is the largest planet in our solar system?", ("jupiter",)),
    ("Who painted the Mona Lisa?", ("leonardo", "da vinci")),
    ("What is the chemical symbol for gold?", ("au",)),
    ("How many days are in a week?", ("seven", "7")),
    ("What is the freezing point of water in Celsius?", ("zero", "0")),
    ("What gas do people need to breathe to stay alive?", ("oxygen",)),
    ("What is the capital of Italy?", ("rome",)),
    ("How many continents are there on Earth?", ("seven", "7")),
    ("What is the tallest mountain in the world?", ("everest",)),
    ("Which animal is called the king of the jungle?", ("lion", "lions")),
    ("What is five plus seven?", ("twelve", "12")),
    ("What is the square root of sixty four?", ("eight", "8")),
    ("What language do people speak in Brazil?", ("portuguese",)),
    ("What is the capital of Germany?", ("berlin",)),
    ("How many hours are in one day?", ("24", "twenty four")),
    ("What color do you get when you mix blue and yellow?", ("green",)),
    ("Who was the first person to walk on the moon?", ("armstrong",)),
    ("What is the largest animal on Earth?", ("blue whale", "whale")),
    ("What is the capital of Canada?", ("ottawa",)),
    ("How many sides does a triangle have?", ("three", "3")),
    ("What fruit is guacamole made from?", ("avocado", "avocados")),
    ("In which country are the pyramids of Giza?", ("egypt",)),
    ("What is the opposite of hot?", ("cold",)),
    ("What is ten times ten?", ("100", "hundred")),
    ("What is the capital of Spain?", ("madrid",)),
    ("Which organ pumps blood through the body?", ("heart",)),
    ("What sweet food do bees make?", ("honey",)),
    ("How many months are in a year?", ("twelve", "12")),
]
# The questions take turns among four voices: Piper steady and Piper as it speaks by default (sampling
# noise, slower), espeak-ng American and British. (espeak-ng's female variant en-us+f3 was left out:
# whisper base heard "Who wrote Romeo and Juliet?" as "You wrote low notes and you read?".)
VOICES = ("piper en_US-joe", "espeak-ng en-us", "piper en_US-joe natural", "espeak-ng en-gb")
CHUNK_MS = 20


def speech_for(voice: str, text: str, rate: int = 16000) -> bytes:
    if voice == "piper en_US-joe natural":
        from piper import SynthesisConfig

        from tests.speech import _piper

        piper = _piper()
        varied = SynthesisConfig(length_scale=1.15)  # Piper's own noise, a slower pace
        pcm = b"".join(c.audio_int16_bytes for c in piper.synthesize(text, syn_config=varied))
        return resample_pcm16(pcm, piper.config.sample_rate, rate)
    if voice.startswith("piper"):
        return piper_speech(text, rate)
    return espeak_speech(text, rate, voice=voice.split()[1])


async def ask(url: str, speech: bytes, rate: int = 16000) -> dict[str, Any]:
    """One question as a microphone would send it: lead silence, speech, then silence until the turn ends."""
    client = await NativeClient.connect(url)
    step = rate * 2 * CHUNK_MS // 1000
    audio = silence(400, rate) + speech
    marks: dict[str, float] = {}
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def listen() -> None:
        while True:
            event = await client.next(timeout=120)
            if event["type"] == "reply.audio.start":
                marks.setdefault("first_audio", time.perf_counter())
            elif event["type"] == "turn.done":
                done.set_result(event)
                return

    listener = asyncio.create_task(listen())
    started = time.perf_counter()
    index = 0
    speech_end = 0.0
    deadline = started + 90
    while not done.done() and time.perf_counter() < deadline:
        offset = index * step
        chunk = audio[offset : offset + step] if offset < len(audio) else silence(CHUNK_MS, rate)
        await client.send_raw(chunk)
        index += 1
        if offset < len(audio) <= offset + step:
            speech_end = time.perf_counter()
        delay = started + index * CHUNK_MS / 1000 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    turn = await asyncio.wait_for(done, 30)
    await listener
    transcript = next((e["text"] for e in client.events if e["type"] == "transcript"), "")
    reply = "".join(e["delta"] for e in client.events if e["type"] == "reply.text.delta")
    await client.close()
    first_audio = (marks["first_audio"] - speech_end) * 1000 if "first_audio" in marks else float("nan")
    return {"status": turn["status"], "transcript": transcript, "reply": reply, "first_audio_ms": first_audio}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_model(model: str, questions: list[tuple[str, tuple[str, ...]]], audio: list[bytes],
                      voices: list[str]) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="voicechat-quality-"))
    env = {**os.environ, "VOICECHAT_LOCAL_MODEL": model, "PYTHONUNBUFFERED": "1",
           "VOICECHAT_MODELS_DIR": os.environ.get("VOICECHAT_MODELS_DIR", str(ROOT / "models")),
           "VOICECHAT_DB_PATH": str(data / "voicechat.sqlite3"),
           "VOICECHAT_MEDIA_DB": str(data / "media.sqlite3"), "VOICECHAT_MEDIA_DIR": str(data / "media"),
           "VOICECHAT_MAX_CONNECTIONS_PER_MINUTE": "0"}
    env.pop("OPENAI_API_BASE_URL", None)
    server = ServerProcess(env, timeout=600)  # the first start of a model joins its parts
    try:
        chat = server.wait_for(r"chat: (.*)").group(1)
        rows = []
        for (question, keywords), speech, voice in zip(questions, audio, voices, strict=True):
            turn = await ask(server.ws, speech)
            turn.update(question=question, voice=voice, right=is_right(turn["reply"], keywords),
                        sentences=count_sentences(turn["reply"]), styled=plain_spoken(turn["reply"]),
                        wer=jiwer.wer(normalise(question), normalise(turn["transcript"]) or "<nothing>"))
            rows.append(turn)
            mark = "ok " if turn["right"] else "BAD"
            print(f"  [{model}] {mark} {turn['first_audio_ms']:6.0f} ms  {voice:24s} "
                  f"heard {turn['transcript']!r} -> {turn['reply']!r}", flush=True)
        memory = rss_mb(server.proc.pid)
    finally:
        server.stop()
    audio_ms = [r["first_audio_ms"] for r in rows if r["first_audio_ms"] == r["first_audio_ms"]]
    per_voice = {v: _share([r["right"] for r in rows if r["voice"] == v]) for v in dict.fromkeys(voices)}
    words = [len(r["reply"].split()) for r in rows]
    return {
        "model": model, "chat": chat, "questions": len(rows),
        "right": sum(r["right"] for r in rows) / len(rows),
        "right_by_voice": per_voice,
        "heard_wer": statistics.mean(r["wer"] for r in rows),
        "right_when_heard": _share([r["right"] for r in rows if r["wer"] == 0]),
        "heard_exactly": sum(r["wer"] == 0 for r in rows),
        "sentences_mean": statistics.mean(r["sentences"] for r in rows),
        "sentences_max": max(r["sentences"] for r in rows),
        "over_three": sum(r["sentences"] > 3 for r in rows),
        "words_mean": statistics.mean(words), "words_max": max(words),
        "styled": sum(r["styled"] for r in rows) / len(rows),
        "first_audio_p50_ms": pct(audio_ms, 50), "first_audio_p95_ms": pct(audio_ms, 95),
        "completed": sum(r["status"] == "completed" for r in rows),
        "rss_mb": memory, "rows": rows,
    }


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| local model | answers right | right when heard exactly | sentences / reply (max) "
             "| words / reply (max) | no lists, markdown, code | first audio p50 / p95 | transcript WER "
             "| server RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        right = round(r["right"] * r["questions"])
        heard = r["heard_exactly"]
        right_heard = round(r["right_when_heard"] * heard) if heard else 0
        lines.append(
            f"| `{r['model']}` | **{r['right'] * 100:.0f} %** ({right}/{r['questions']})"
            f" | {r['right_when_heard'] * 100:.0f} % ({right_heard}/{heard})"
            f" | {r['sentences_mean']:.1f} ({r['sentences_max']}) "
            f"| {r['words_mean']:.0f} ({r['words_max']}) "
            f"| {r['styled'] * 100:.0f} % | {r['first_audio_p50_ms']:.0f} / {r['first_audio_p95_ms']:.0f} ms "
            f"| {r['heard_wer'] * 100:.1f} % | {r['rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    questions = QUESTIONS[: args.n] if args.n else QUESTIONS
    voices = [VOICES[i % len(VOICES)] for i in range(len(questions))]
    audio = [speech_for(v, q) for (q, _), v in zip(questions, voices, strict=True)]
    results = []
    for model in args.models.split(","):
        print(f"{model}: {len(questions)} spoken questions", flush=True)
        results.append(await bench_model(model, questions, audio, voices))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,default,quality", help="VOICECHAT_LOCAL_MODEL values")
    parser.add_argument("-n", type=int, default=0, help="only the first N questions (0 = all)")
    parser.add_argument("--json", type=Path, help="write every question's result here")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print()
    print(table(results))
    for r in results:
        voices = ", ".join(f"{v} {share * 100:.0f} %" for v, share in r["right_by_voice"].items())
        print(f"{r['model']}: {r['chat']}; right by voice: {voices}; replies over three sentences: "
              f"{r['over_three']}; turns completed: {r['completed']}/{r['questions']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
