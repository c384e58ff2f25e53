"""Load and soak: N clients streaming real speech at real-time pace against a server process.

Each client speaks one utterance, waits for the reply, stays quiet until its next slot (one utterance every
`--every` seconds), and reconnects when refused. Reports speech end -> final transcript and -> first
audio (p50/p95), refusals and failures, and samples the server's RSS and open file descriptors over time.

    python bench/load.py --clients 3 --duration 300            # soak: RSS / FDs must stay flat
    python bench/load.py --sweep 1,2,4,8,16 --duration 40      # concurrency sweep
    python bench/load.py --clients 2 --chat fake               # without the local model's CPU cost
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import websockets
from benchkit import ROOT, pct  # before the checkout's modules: puts it on sys.path

from tests.process import ServerProcess
from tests.speech import piper_speech, silence
from tests.wsclient import NativeClient
from voicechat.audio import Pacer

SENTENCES = ["What is the capital of France?", "Turn off the bedroom lights.", "How tall is Mount Everest?",
             "What time is it in Tokyo?", "Tell me a short joke about cats.", "Who painted the Mona Lisa?"]
CHUNK_MS = 20


def start_server(env_extra: dict[str, str], data: Path) -> ServerProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "VOICECHAT_DB_PATH": str(data / "c.sqlite3"),
           "VOICECHAT_MEDIA_DB": str(data / "m.sqlite3"), "VOICECHAT_MEDIA_DIR": str(data / "media"),
           "VOICECHAT_MAX_CONNECTIONS_PER_MINUTE": "0", **env_extra}
    return ServerProcess(env)


def sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss_mb": rss_kb / 1024, "fds": fds, "cpu_s": cpu_s}


async def listen(client: NativeClient, marks: dict[str, float]) -> dict[str, Any]:
    """Note when each event type first arrives; return the turn.done."""
    while True:
        event = await client.next(timeout=120)
        marks.setdefault(event["type"], time.monotonic())
        if event["type"] == "turn.done":
            return event


async def client_loop(index: int, url: str, until: float, every: float, out: dict[str, list]) -> None:
    speech = [piper_speech(s) for s in SENTENCES]
    turn = index  # stagger what each client says
    await asyncio.sleep(index * every / max(1, out["clients"][0]))  # spread the first utterances
    while time.monotonic() < until:
        slot_start = time.monotonic()
        try:
            client = await NativeClient.connect(url)
        except (websockets.InvalidStatus, websockets.ConnectionClosed) as exc:  # 1013: at capacity
            rcvd = getattr(exc, "rcvd", None)
            out["refused"].append(rcvd.code if rcvd else "http")
            await asyncio.sleep(1)  # a client backing off before it tries again
            continue
        try:
            audio = silence(300) + speech[turn % len(speech)] + silence(900)
            speech_end = 0.0
            step = 16000 * 2 * CHUNK_MS // 1000
            marks: dict[str, float] = {}

            listener = asyncio.create_task(listen(client, marks))
            end_byte = 300 * 32 + len(speech[turn % len(speech)])
            pacer = Pacer(16000)
            for offset in range(0, len(audio), step):
                await client.send_raw(audio[offset : offset + step])
                if offset < end_byte <= offset + step:
                    speech_end = time.monotonic()
                await pacer.wait(step)
            done = await listener
            if done["status"] == "completed":
                out["transcript_ms"].append((marks["transcript"] - speech_end) * 1000)
                out["first_audio_ms"].append((marks["reply.audio.start"] - speech_end) * 1000)
            else:
                out["failed"].append(done["status"])
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            (out["refused"] if code in (1013, 4429) else out["failed"]).append(code)
        finally:
            await client.close()
        turn += 1
        rest = slot_start + every - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)


async def idle_sessions(url: str, pid: int, count: int = 20) -> dict[str, float]:
    """RSS cost of sessions that are connected but silent."""
    before = sample(pid)["rss_mb"]
    clients = [await NativeClient.connect(url) for _ in range(count)]  # each has had its `ready`
    during = sample(pid)["rss_mb"]
    for client in clients:
        await client.close()
    return {"sessions": count, "rss_mb_before": before, "rss_mb_with": during,
            "mb_per_idle_session": (during - before) / count}


def health(port: int) -> dict[str, Any]:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json().get("load") or {}


async def run(url: str, pid: int, clients: int, duration: float, every: float) -> dict[str, Any]:
    out: dict[str, list] = {"transcript_ms": [], "first_audio_ms": [], "refused": [], "failed": [],
                            "samples": [], "clients": [clients]}
    until = time.monotonic() + duration

    async def sampler() -> None:
        begun = time.monotonic()
        while time.monotonic() < until + 5:
            out["samples"].append({"t": round(time.monotonic() - begun, 1), **sample(pid)})
            await asyncio.sleep(10)

    probe = asyncio.create_task(sampler())
    await asyncio.gather(*(client_loop(i, url, until, every, out) for i in range(clients)))
    out["samples"].append({"t": round(duration, 1), **sample(pid)})  # before the sessions are gone
    probe.cancel()
    out["samples"].append({"t": round(duration, 1), **sample(pid)})
    return out


def report(clients: int, out: dict[str, Any]) -> dict[str, Any]:
    samples = out["samples"]
    row = {
        "clients": clients,
        "turns": len(out["transcript_ms"]),
        "transcript_p50": pct(out["transcript_ms"], 50), "transcript_p95": pct(out["transcript_ms"], 95),
        "first_audio_p50": pct(out["first_audio_ms"], 50), "first_audio_p95": pct(out["first_audio_ms"], 95),
        "refused": len(out["refused"]), "failed": len(out["failed"]),
        "rss_mb_first": samples[0]["rss_mb"], "rss_mb_last": samples[-1]["rss_mb"],
        "fds_first": samples[0]["fds"], "fds_last": samples[-1]["fds"],
        "rss_mb_peak": max(x["rss_mb"] for x in samples),
    }  # fmt: skip
    print(f"{clients:3d} clients: {row['turns']:4d} turns  transcript p50 {row['transcript_p50']:6.0f} "
          f"p95 {row['transcript_p95']:6.0f} ms  first audio p50 {row['first_audio_p50']:6.0f} "
          f"p95 {row['first_audio_p95']:6.0f} ms  refused {row['refused']}  failed {row['failed']}  "
          f"RSS {row['rss_mb_first']:.0f}->{row['rss_mb_last']:.0f} MB  "
          f"FDs {row['fds_first']}->{row['fds_last']}",
          flush=True)
    return {**row, "samples": samples, "load": out.get("load"),
            "first_audio_ms": sorted(round(x) for x in out["first_audio_ms"])}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--sweep", help="comma-separated client counts, e.g. 1,2,4,8,16")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--every", type=float, default=8.0, help="seconds between a client's utterances")
    parser.add_argument("--chat", choices=["local", "fake"], default="local")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args()
    env: dict[str, str] = {}
    fake = None
    if args.chat == "fake":
        from tests.fakes.openai_chat import FakeOpenAIChat

        fake = FakeOpenAIChat().start()
        env.update(OPENAI_API_BASE_URL=fake.base_url, OPENAI_API_KEY=fake.api_key)
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"voicechat-load-{os.getpid()}"
    data.mkdir(parents=True, exist_ok=True)
    server = start_server(env, data)
    proc, port, url = server.proc, server.port, server.ws
    rows = []
    try:
        idle_before = sample(proc.pid)
        time.sleep(10)
        idle_after = sample(proc.pid)
        idle_cpu = (idle_after["cpu_s"] - idle_before["cpu_s"]) / 10 * 100
        print(f"idle server: {idle_cpu:.2f} % of one core, RSS {idle_after['rss_mb']:.0f} MB, "
              f"{idle_after['fds']} FDs", flush=True)
        idle = asyncio.run(idle_sessions(url, proc.pid))
        print(f"idle sessions: {idle['mb_per_idle_session']:.2f} MB each ({idle['sessions']} connected)",
              flush=True)
        counts = [int(c) for c in args.sweep.split(",")] if args.sweep else [args.clients]
        for clients in counts:
            before = health(port)
            out = asyncio.run(run(url, proc.pid, clients, args.duration, args.every))
            after = health(port)
            out["load"] = {"stt": after.get("stt"), "counters": after.get("counters"),
                           "counters_before": before.get("counters"), "chat": after.get("chat"),
                           "chat_before": before.get("chat"), "cpu_priority": after.get("cpu_priority"),
                           "cpu_priority_before": before.get("cpu_priority")}
            row = report(clients, out)
            row["mb_per_active_session"] = (row["rss_mb_peak"] - idle_after["rss_mb"]) / clients
            stt = after.get("stt") or {}
            print(f"     per active session {row['mb_per_active_session']:.1f} MB (peak RSS over idle); "
                  f"speech model: {stt.get('finals')} finals, {stt.get('partials')} partials, "
                  f"{stt.get('refused')} refused, largest batch {stt.get('max_batch')}", flush=True)
            rows.append(row)
    finally:
        server.stop()
        if fake:
            fake.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"idle_cpu_percent": idle_cpu, "idle_sessions": idle, "runs": rows},
                                    indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
