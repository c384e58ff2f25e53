"""Cuts a streaming reply into speakable pieces: sentences, and a first clause when the first one is long.

Speaking the first piece while the model is still writing is where most of the perceived speed comes from.
"""

from __future__ import annotations

import re
from typing import Any

_SENTENCE_END = re.compile(r"([.!?…]+[\"')\]]*)(\s+|$)|[。！？；]+")
_CLAUSE_END = re.compile(r"([,;:—]|[，、：])\s*")
_CJK_CLAUSE_END = re.compile(r"[，；、：]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "etc.", "vs.", "no.", "prof.", "mt.",
                  "jr.", "sr.", "ft.", "inc.", "ltd.", "co.", "approx.", "fig.", "vol."}
# A word of two letters or more ending in one dot, as the last thing written: "Paris." is a finished sentence
# even before the next token shows a space (the first piece then leaves one token sooner, ~50 ms on 2 cores).
# Not "3." (3.5), "U.S." or "J." (an initial), "..." still being written, nor an abbreviation.
_WORD_THEN_DOT = re.compile(r"(?:^|[\s\"'(\[])([^\W\d_]{2,})\.[\"')\]]*$")
_MARKUP = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*]\s+)", re.MULTILINE)


def clean_for_speech(text: str) -> str:
    """Strip markdown a chat model may write anyway; it would be read aloud as symbols."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


_ENDS_SENTENCE = re.compile(r"([.!?…]+[\"')\]]*|[。！？])$")


def ends_sentence(text: str) -> bool:
    """Whether `text` ends with a complete sentence ("Dr." or "3." does not count)."""
    stripped = text.rstrip()
    if not _ENDS_SENTENCE.search(stripped):
        return False
    last_word = stripped.rsplit(None, 1)[-1].lower()
    return last_word not in _ABBREVIATIONS and not re.search(r"\d\.$", stripped)


def starts_new_sentence(written: str, delta: str) -> bool:
    """Whether the streamed `delta` begins a new sentence after `written` ended one. A final "." is only
    sure once the text after it is seen: a space or a line break (or CJK punctuation, which needs none)."""
    if not delta.strip() or not ends_sentence(written):
        return False
    return written[-1:].isspace() or delta[:1].isspace() or written.rstrip()[-1:] in "。！？"


class SentenceChunker:
    """Feed text deltas; get back pieces ready to synthesize."""

    def __init__(self, first_chunk_chars: int = 60, max_chars: int = 220, first_words: int = 0) -> None:
        self.first_chunk_chars = first_chunk_chars
        # Opt-in (VOICECHAT_TTS_FIRST_PIECE_WORDS): the first piece may end after this many words even inside
        # a sentence: the first audio comes sooner, but the fragment is spoken with its own intonation.
        self.first_words = first_words
        # A model that never ends its sentence must not make one huge synthesis: it would delay the
        # audio and grow the TTS engine's memory arena to the longest input it ever saw.
        self.max_chars = max_chars
        self._buffer = ""
        self._emitted = 0

    @classmethod
    def for_settings(cls, settings: Any) -> SentenceChunker:
        """The chunker a reply is spoken with (voicechat/settings.py's `tts_first_*`)."""
        return cls(first_chunk_chars=settings.tts_first_chunk_chars,
                   first_words=settings.tts_first_piece_words)

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        pieces: list[str] = []
        while True:
            piece = self._next_piece()
            if piece is None:
                return pieces
            pieces.append(piece)

    def flush(self) -> list[str]:
        rest = clean_for_speech(self._buffer)
        self._buffer = ""
        return [rest] if rest else []

    def _next_piece(self) -> str | None:
        search_from = 0
        while True:
            match = _SENTENCE_END.search(self._buffer, search_from)
            if match is None:
                break
            if match.group(1) is None:  # CJK sentence punctuation needs no space after it
                return self._take(match.end())
            candidate = self._buffer[: match.end(1)]
            last_word = candidate.rsplit(None, 1)[-1].lower() if candidate.split() else ""
            # "Dr." or "3.5" is not the end of a sentence; nor is a dot we can't yet see past, unless it
            # follows a plain word ("Paris.").
            unsure_dot = match.group(2) == "" and candidate.rstrip("\"')]").endswith(".") \
                and not _WORD_THEN_DOT.search(candidate)
            if last_word in _ABBREVIATIONS or unsure_dot:
                search_from = match.end(1)
                if search_from >= len(self._buffer):
                    break
                continue
            return self._take(match.end())
        if self._emitted == 0 and (cut := self._first_cjk_clause()) is not None:
            return self._take(cut)
        if self._emitted == 0 and self.first_words > 0 and (cut := self._after_words()) is not None:
            return self._take(cut)
        if self._emitted == 0 and len(self._buffer) >= self.first_chunk_chars:
            for match in _CLAUSE_END.finditer(self._buffer):
                if match.start() >= self.first_chunk_chars // 2:
                    return self._take(match.end())
        # The first piece is what the user waits for: a long first sentence with no comma to cut at is cut
        # at a word past twice the first-piece length, not at `max_chars`.
        limit = self.max_chars
        if self._emitted == 0 and self.first_chunk_chars > 0:
            limit = min(limit, 2 * self.first_chunk_chars)
        if len(self._buffer) > limit:
            head = self._buffer[:limit]
            clauses = [m.end() for m in _CLAUSE_END.finditer(head) if m.start() >= limit // 3]
            space = head.rfind(" ")
            return self._take(clauses[-1] if clauses else space + 1 if space > 0 else limit)
        return None

    def _after_words(self) -> int | None:
        """Where the first `first_words` words end, once the next word has begun (a word is whole only when
        what follows it is seen)."""
        words = list(re.finditer(r"\S+(?=\s+\S)", self._buffer))
        if len(words) < self.first_words:
            return None
        return words[self.first_words - 1].end()

    def _first_cjk_clause(self) -> int | None:
        """Where a Chinese (or Japanese) first piece may end: at its first ，、： once it holds a second and a
        half of speech or so (a CJK character is about three letters' worth; 60 first-piece chars -> 7)."""
        for match in _CJK_CLAUSE_END.finditer(self._buffer):
            head = self._buffer[: match.start()]
            if 3 * len(_CJK.findall(head)) + len(_CJK.sub("", head)) >= self.first_chunk_chars // 3:
                return match.end()
        return None

    def _take(self, end: int) -> str | None:
        piece = clean_for_speech(self._buffer[:end])
        self._buffer = self._buffer[end:]
        if not piece:
            return None
        self._emitted += 1
        return piece
