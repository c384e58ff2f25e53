"""Which process polls which media job: a lease per job, kept in the job store, with an expiry.

Every process (node) sharing a store runs a poller. A job is driven only by the holder of its lease: the
node that submitted it, or whoever claims it after its holder stopped renewing (killed, cut off). Leases
are renewed every third of their length, so a dead holder's jobs are taken over within about
1.33 x `lease_s`. Claims are atomic in both stores (SQLite: one writer; PostgreSQL: `FOR UPDATE SKIP
LOCKED`), and every save is conditional on still holding the lease, so two nodes never both drive a job.

Submitting is the one step that must not repeat (it costs money): it is marked in the store
(`submit_started_at`) before the provider is called. A job found with the mark but no provider answer
was caught mid-submission by a crash: nobody knows whether the provider has it, so it is failed with
`submission_uncertain` and a sentence that says so, never sent again.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from typing import Any

from voicechat.media.jobs import Job

log = logging.getLogger(__name__)

UNCERTAIN = "submission_uncertain"


def node_name() -> str:
    """Unique per process, readable in logs and in the store's `lease_owner` column."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def caught_mid_submission(job: Job) -> bool:
    return bool(job.submit_started_at) and not job.sent and not job.finished


def fail_uncertain(job: Job, label: str) -> None:
    job.fail(UNCERTAIN, f"I can't tell whether {label} received this request before a server stopped, so I "
                        "did not send it again, to avoid paying twice. Ask again if nothing arrives.")


class Leases:
    """One node's side of the leases: claim, renew, save-while-holding, release."""

    def __init__(self, store: Any, holder: str, lease_s: float) -> None:
        self.store = store
        self.holder = holder
        self.lease_s = lease_s
        self.renew_every_s = lease_s / 3
        self._next_refresh = 0.0

    def due_in(self, now: float) -> float:
        return self._next_refresh - now

    async def refresh(self, held: list[str]) -> tuple[list[Job], set[str]]:
        """Renew what this node holds and claim what nobody holds: (jobs claimed, ids lost to others)."""
        self._next_refresh = time.time() + self.renew_every_s
        kept = await self.store.arenew(self.holder, held, self.lease_s)
        claimed = await self.store.aclaim(self.holder, self.lease_s)
        return claimed, set(held) - kept

    async def save(self, job: Job) -> bool:
        """Save the job if this node still holds it (renewing the lease); False when another node took it."""
        return bool(await self.store.asave(job, holder=self.holder, lease_s=self.lease_s))

    async def release(self) -> None:
        await self.store.arelease(self.holder)
