"""What the user heard of a reply: its sentences laid on its audio, cut where playback stopped.

After a barge-in the history must keep only the words that were played, so each sentence records where
its audio starts and ends in the reply, and a cut maps the played time back onto words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SpokenPiece:
    """One sentence of the reply and where its audio lies in the reply's audio."""

    text: str
    start_ms: float
    end_ms: float  # grows while the piece is synthesized; final once `synthesized`
    apology: bool = False
    synthesized: bool = False


def heard_words(pieces: list[SpokenPiece], played_ms: float) -> str:
    """The words of `pieces` within the first `played_ms` of audio: whole sentences, then the played
    share of the one playback stopped in."""
    words: list[str] = []
    for piece in pieces:
        if not piece.synthesized:
            break  # cut while being synthesized: its length is unknown, so none of it was heard for sure
        if piece.end_ms <= played_ms:
            words.append(piece.text)
        elif piece.start_ms < played_ms:
            share = (played_ms - piece.start_ms) / max(1.0, piece.end_ms - piece.start_ms)
            cut = piece.text.split()[: int(len(piece.text.split()) * share)]
            if cut:
                words.append(" ".join(cut))
    return " ".join(words)
