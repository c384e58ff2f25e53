"""Small pure pieces: hallucination filter, history budget, settings documentation."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from voicechat.history import History
from voicechat.stt import Transcript, ignore_reason


def t(text: str, no_speech: float = 0.05, logprob: float = -0.2) -> Transcript:
    return Transcript(text=text, language="en", no_speech_prob=no_speech, avg_logprob=logprob)


def test_silence_hallucinations_never_start_a_turn():
    assert ignore_reason(t("")) == "empty"
    assert ignore_reason(t(" ... ")) == "empty"
    assert ignore_reason(t("Thanks for watching!")) == "hallucination"
    assert ignore_reason(t("Subtitles by the Amara.org community")) == "hallucination"
    assert ignore_reason(t("字幕由Amara.org社区提供")) == "hallucination"
    # "Thank you." is dropped when whisper itself doubts there was speech, kept when it is sure.
    assert ignore_reason(t("Thank you.", no_speech=0.6)) == "hallucination"
    assert ignore_reason(t("Thank you.", no_speech=0.02, logprob=-0.1)) is None
    assert ignore_reason(t("Thank you for the help with dinner.")) is None
    assert ignore_reason(t("What is the weather?")) is None


class FakeTurn:
    def __init__(self, id: str, text: str) -> None:
        self.id, self.text, self.status = id, text, "completed"

    def heard_text(self) -> str:
        return self.text


def test_history_budget_keeps_the_newest_whole_exchanges():
    history = History(max_chars=100)
    for n in range(10):
        history.add_user(f"question number {n} " + "x" * 20)
        history.add_assistant(FakeTurn(f"turn_{n}", f"answer number {n} " + "y" * 20))  # type: ignore[arg-type]
    messages = history.for_model("be brief")
    assert messages[0] == {"role": "system", "content": "be brief"}
    assert messages[1]["role"] == "user"
    assert messages[-1]["content"].startswith("answer number 9")
    assert sum(len(m["content"]) for m in messages[1:]) <= 100
    assert len(history.messages()) == 20  # clients can still read it all back


def test_readme_settings_table_is_current():
    check = subprocess.run([sys.executable, "scripts/settings_table.py", "--check"], cwd=ROOT,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
