"""CPU priority: the local chat model pauses between tokens while work someone waits on runs."""

from __future__ import annotations

import asyncio
import threading
import time

from tests.conftest import make_settings
from voicechat.cpu import GATE, CpuGate
from voicechat.llm import LocalChat


def _wait_until(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.001)
    return check()


def test_background_waits_while_foreground_runs_and_resumes_when_it_ends() -> None:
    gate = CpuGate(max_pause_s=30)
    steps: list[int] = []
    release = threading.Event()
    holding = threading.Event()

    def foreground() -> None:
        with gate.foreground("stt"):
            holding.set()
            release.wait()

    def background() -> None:
        for step in range(3):
            gate.yield_to_foreground()
            steps.append(step)

    fg = threading.Thread(target=foreground)
    fg.start()
    holding.wait()
    bg = threading.Thread(target=background)
    bg.start()
    assert _wait_until(lambda: gate.waiting == 1)
    assert steps == []  # it is parked before its first step
    release.set()
    bg.join(5)
    fg.join(5)
    assert steps == [0, 1, 2]
    assert gate.pauses == 1 and gate.waiting == 0
    assert gate.snapshot()["foreground"] == {"stt": 1}


def test_a_pause_is_bounded_then_a_few_steps_go_through_without_waiting() -> None:
    gate = CpuGate(max_pause_s=0.05, grace_tokens=3)
    with gate.foreground("tts"):  # never ends while background steps
        began = time.monotonic()
        for _ in range(4):  # one timed-out wait, then three free steps
            gate.yield_to_foreground()
        assert gate.pauses == 1
        assert time.monotonic() - began < 1.0
        gate.yield_to_foreground()  # the grace is spent: it waits again
        assert gate.pauses == 2


def test_nothing_waits_when_idle_or_disabled() -> None:
    gate = CpuGate(max_pause_s=30)
    gate.yield_to_foreground()
    assert gate.pauses == 0
    gate.enabled = False
    with gate.foreground("stt"):
        gate.yield_to_foreground()  # would block for 30 s if the gate were on
    assert gate.pauses == 0 and gate.snapshot()["foreground"] == {}


def test_a_hand_over_waits_for_the_foreground_job_to_begin_and_then_to_end() -> None:
    gate = CpuGate(max_pause_s=30)
    mark = gate.mark()
    done = threading.Event()

    def background() -> None:
        gate.hand_over(mark, timeout_s=30)  # it just handed a first piece to the voice
        done.set()

    bg = threading.Thread(target=background)
    bg.start()
    with gate.foreground("tts"):  # the voice starts on the piece
        assert _wait_until(lambda: gate.waiting == 1)  # the background is parked behind it
        assert not done.is_set()
    bg.join(5)
    assert done.is_set() and gate.handoffs == 1 and gate.pauses == 1


def test_a_hand_over_nobody_takes_up_costs_only_its_short_wait() -> None:
    gate = CpuGate(max_pause_s=30)
    began = time.monotonic()
    gate.hand_over(gate.mark(), timeout_s=0.02)  # a remote voice: no foreground job ever begins
    assert time.monotonic() - began < 1.0 and gate.handoffs == 0 and gate.pauses == 0
    with gate.foreground("stt"):
        pass
    mark = gate.mark()
    gate.enabled = False
    gate.hand_over(mark, timeout_s=30)  # off: returns at once
    assert gate.handoffs == 0


async def test_the_local_model_parks_between_tokens_while_foreground_work_runs() -> None:
    chat = LocalChat(make_settings(local_model="tiny"))  # any model parks; tiny is fast
    reply = chat.stream([{"role": "user", "content": "Tell me a long story about a dragon."}])
    first = await anext(reply)
    pauses = GATE.pauses
    with GATE.foreground("stt"):  # as if a final transcription started on another thread
        deadline = time.monotonic() + 10
        while GATE.waiting == 0:  # the model stops at its next token boundary
            assert time.monotonic() < deadline, "the local model kept writing while foreground work ran"
            await asyncio.sleep(0.005)
    rest = [piece async for piece in reply]  # and goes on once the work is done
    assert GATE.pauses > pauses
    assert len(first + "".join(rest)) > 20
