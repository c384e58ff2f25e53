"""The shared state's cost per turn: PostgreSQL writes and NOTIFY round trips, through the real stores.

Starts a throwaway PostgreSQL (tests/postgres.py, Debian's package) unless `--database-url` names one, and
drives voicechat's own PostgreSQL stores (voicechat/pg_store.py) the way sessions and the media poller do:

- a turn = two `save_turn` writes (when its transcript is known, when it ends), a session = one more;
- a media job update = one `asave` with its lease plus one NOTIFY heard by a second listener;
- lease upkeep = one `arenew` + one `aclaim` per node every `VOICECHAT_MEDIA_LEASE_S / 3`.

Prints p50/p95 latency of each, and the write throughput with `--writers` concurrent sessions.

    python bench/state.py                      # local throwaway server
    python bench/state.py --writers 64 --turns 50
"""

from __future__ import annotations

import argparse
import asyncio
import time

import benchkit  # noqa: F401, I001  (first: puts the checkout on sys.path)

from voicechat.database import Database
from voicechat.media.jobs import Job, MediaKind
from voicechat.pg_store import PgConversationStore, PgJobStore


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def line(name: str, values: list[float]) -> None:
    print(f"{name:<34} n={len(values):>5}  p50 {p(values, 0.5):7.2f} ms  p95 {p(values, 0.95):7.2f} ms")


async def run(url: str, writers: int, turns: int) -> None:
    database = Database(url, max_connections=20)
    await database.start()
    conversations, jobs = PgConversationStore(database), PgJobStore(database)

    # One session's turns, one after another: the latency a turn sees.
    await conversations.open_conversation("bench_serial", "bench", "native")
    serial = []
    for n in range(400):
        start = time.perf_counter()
        await conversations.save_turn("bench_serial", f"turn_{n}", user_text="What is the capital of France?",
                                      assistant_text="Paris.", status="completed", timings={"total_ms": 700})
        serial.append(time.perf_counter() - start)
    line("save_turn, one session", serial)

    # Many sessions at once: the writes per second one database takes from this client machine.
    async def session(index: int, latencies: list[float]) -> None:
        cid = f"bench_{index}"
        await conversations.open_conversation(cid, "bench", "native")
        for n in range(turns):
            for status in ("running", "completed"):
                start = time.perf_counter()
                await conversations.save_turn(cid, f"turn_{n}", user_text="Hello there", assistant_text="Hi.",
                                              status=status)
                latencies.append(time.perf_counter() - start)

    concurrent: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(session(i, concurrent) for i in range(writers)))
    elapsed = time.perf_counter() - start
    line(f"save_turn, {writers} sessions at once", concurrent)
    print(f"{'':<34} {len(concurrent) / elapsed:8.0f} writes/s ({len(concurrent) / elapsed / 2:.0f} turns/s)")

    # A job update: saved with its lease, announced, heard by another node's listener.
    heard: dict[str, float] = {}
    arrived = asyncio.Event()
    listener_db = Database(url, max_connections=2)
    await listener_db.start()

    async def on_update(update: dict) -> None:
        heard[update["job_id"]] = time.perf_counter()
        arrived.set()

    await PgJobStore(listener_db).awatch(on_update)
    while "probe" not in heard:  # the listening connection has no "ready" signal: probe until it hears
        await jobs.apublish({"node": "node-a", "job_id": "probe", "event": "probe", "message": ""})
        try:
            await asyncio.wait_for(arrived.wait(), 0.2)
        except TimeoutError:
            pass
    saves, notifies = [], []
    for n in range(300):
        job = Job(kind=MediaKind.IMAGE, provider="midjourney", action="imagine", prompt=f"fox {n}",
                  owner="bench")
        start = time.perf_counter()
        await jobs.asave(job, holder="node-a", lease_s=15)
        saved = time.perf_counter()
        arrived.clear()
        await jobs.apublish({"node": "node-a", "job_id": job.id, "event": "progress", "message": ""})
        await asyncio.wait_for(arrived.wait(), 5)
        saves.append(saved - start)
        notifies.append(heard[job.id] - saved)
    line("job save with lease", saves)
    line("NOTIFY -> other node's listener", notifies)

    held = [j.id for j in await jobs.alist(limit=100)]
    renew, claim = [], []
    for _ in range(200):
        start = time.perf_counter()
        await jobs.arenew("node-a", held, 15)
        renew.append(time.perf_counter() - start)
        start = time.perf_counter()
        await jobs.aclaim("node-b", 15)
        claim.append(time.perf_counter() - start)
    line(f"lease renew ({len(held)} jobs)", renew)
    line("lease claim (nothing due)", claim)
    await listener_db.close()
    await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    server = None
    url = args.database_url
    if not url:
        from tests.postgres import Postgres

        server = Postgres().start()
        url = server.database()
        print("PostgreSQL: throwaway local server (fsync off, as in the tests)")
    try:
        asyncio.run(run(url, args.writers, args.turns))
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
