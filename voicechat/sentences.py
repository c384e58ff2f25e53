"""Cuts a streaming reply into speakable pieces: sentences, and a first clause when the first one is long.

Speaking the first piece while the model is still writing is where most of the perceived speed comes from.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Quotes and brackets that close after a sentence's mark ('He said "stop."', French « bonjour. »).
_CLOSERS = r"(?:[\"')\]”’“»」』）]|\s»)*"
_CLOSERS_CHARS = "\"')]”’“»」』） "
_SENTENCE_END = re.compile(rf"([.!?…]+{_CLOSERS})(?:\s+|$)|([。！？；]+{_CLOSERS})")
_FINAL_END = re.compile(rf"(?:[.!?…]+|[。！？；]+){_CLOSERS}$")
_CJK_MARKS = "。！？；"
# A clause mark after a digit is a cut only once a space shows it is not inside "8,849", "3,14" or "10:30".
_CLAUSE_END = re.compile(r"(?:(?<!\d)[,;:—]|(?<=\d)[,;:—](?=\s)|[，、：])\s*")
_CJK_CLAUSE_END = re.compile(r"[，；、：]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_OPENERS = "\"'([{“„«‘¿¡"
_PLAIN_WORD = re.compile(r"[^\W\d_]{2,}")  # "Paris", "Straße", "巴黎": letters only
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # "J", "U.S.A", "e.g", "z.B", "т.е" (before the last dot)
# Abbreviations written before what they qualify: never the end of a sentence, whatever follows (German
# capitalises its nouns, so "5 Mio. Euro" looks like a new sentence). Lower case, with the dot.
_LEADS_ON = {
    "mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "mt.", "vs.", "approx.", "cf.", "gen.", "col.", "capt.",
    "lt.", "sgt.", "rev.", "gov.", "sen.", "rep.", "hon.",  # English
    "hr.", "fr.", "nr.", "ca.", "bzw.", "vgl.", "ggf.", "evtl.", "inkl.", "zzgl.", "bspw.", "sog.", "bzgl.",
    "mio.", "mrd.", "tsd.",  # German
    "env.", "av.", "apr.", "p.ex.", "mme.",  # French
    "sr.", "sra.", "srta.", "dra.", "ud.", "uds.", "ee.", "ej.", "pág.", "núm.", "aprox.",  # Spanish
    "sig.", "sigg.", "dott.", "ing.", "avv.", "pag.",  # Italian
    "dhr.", "mevr.", "bijv.", "np.", "tzn.", "ul.", "t.ex.", "bl.a.",  # Dutch, Polish, Swedish
    "ул.", "см.", "напр.", "проф.", "вул.",  # Russian, Ukrainian
}  # fmt: skip
# Abbreviations that also end sentences: an end when a capital letter follows ("etc. The"), not when a
# lower-case word or a number does ("No. 5", "etc. are", "9 a.m. on Monday").
_MAY_END = {"etc.", "usw.", "ecc.", "itd.", "osv.", "enz.", "vb.", "inc.", "ltd.", "co.", "corp.", "jr.",
            "bros.", "no.", "vol.", "fig.", "ft.", "min.", "a.m.", "p.m.", "uu.", "ph.d.", "руб.", "тыс.",
            "млн.", "млрд."}
# German ordinals: "am 3. Oktober", "im 19. Jahrhundert" (the word before, or a month after a day).
_BEFORE_ORDINAL = {"am", "im", "vom", "zum", "beim", "zur", "der", "die", "das", "den", "dem", "des", "bis",
                   "ab", "seit"}
_MONTH_STARTS = {"jan", "jän", "feb", "mär", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"}
_MARKUP = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*]\s+)", re.MULTILINE)


def clean_for_speech(text: str) -> str:
    """Strip markdown a chat model may write anyway; it would be read aloud as symbols."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


def _inside_quotes(text: str) -> bool:
    """Whether `text` leaves a quotation open (its closing mark is likely the next token)."""
    if text.count('"') % 2 or text.count("«") > text.count("»") or text.count("「") > text.count("」"):
        return True
    if "„" in text:  # German „…“
        return text.count("„") > text.count("“")
    return text.count("“") > text.count("”")


def _ends_at(text: str, start: int, end: int) -> bool:
    """Whether the marks `text[start:end]` (".", "?!", "。", with any closing quotes) end a sentence, judged
    from the text written so far. False also where what follows decides and is not written yet: the
    chunker then waits one token (two after "No. " when the model writes the space alone)."""
    after = text[end:]
    if not after.strip() and _inside_quotes(text[:end]):
        return False  # the closing quote comes next: 'He said "stop.' + '"'
    if text[start] in _CJK_MARKS:
        return True
    marks = text[start:end].rstrip(_CLOSERS_CHARS)
    if marks != ".":
        return not marks.endswith(".") or bool(after)  # "Wait.." may still become "Wait..."
    before = text[:start]
    word = before.split()[-1].lstrip(_OPENERS) if before[-1:].strip() else ""
    key = word.lower() + "."
    if key in _LEADS_ON or (_INITIALS.fullmatch(word) and key not in _MAY_END):
        return False  # "Dr. Smith", "J. K. Rowling", "U.S.A. today", "z. B.", "M. Dupont", "e.g."
    if key in _MAY_END or word[-1:].isdigit():
        following = after.lstrip()[:1]
        if "\n" in after[: len(after) - len(after.lstrip())]:
            return True  # a line break right after the dot: a paragraph ends
        if not following or following.islower() or following.isdigit():
            return False  # "3.5" / "No. 5" / "etc. are" (or not written yet)
        return not (word[-1:].isdigit() and (_list_marker(before, word) or _ordinal(before, word, after)))
    if _PLAIN_WORD.fullmatch(word):
        return True  # "Paris.": at once, the next token is ~50 ms away on 2 cores
    return bool(after)  # "example.com", "don't.": once a space shows the dot is not inside a name


def _list_marker(before: str, number: str) -> bool:
    """"1." at the start of the text or of a line: a list's number, not a sentence's end."""
    head = before[: len(before) - len(number)].rstrip(" \t")
    return head == "" or head.endswith("\n")


def _ordinal(before: str, number: str, after: str) -> bool:
    """A German ordinal: "am 3. Oktober", "im 19. Jahrhundert"."""
    words = before[: len(before) - len(number)].split()
    if words and words[-1].lower() in _BEFORE_ORDINAL:
        return True
    following = after.split()[0].lower() if after.split() else ""
    return len(number) <= 2 and following[:3] in _MONTH_STARTS


def ends_sentence(text: str) -> bool:
    """Whether `text` ends with a complete sentence ("Dr." or "3." does not count: what follows decides)."""
    stripped = text.rstrip()
    match = _FINAL_END.search(stripped)
    return match is not None and _ends_at(stripped, match.start(), match.end())


def starts_new_sentence(written: str, delta: str) -> bool:
    """Whether the streamed `delta` begins a new sentence after `written` ended one. A final "." is only
    sure once the text after it is seen: a space or a line break (or CJK punctuation, which needs none)."""
    final = _FINAL_END.search(written.rstrip())
    text = written + delta
    end = _SENTENCE_END.match(text, final.start()) if final else None  # "3.5", "example.com": none
    if end is None or not text[end.end():].strip():
        return False  # not an end, or nothing new yet (the closing » of « bonjour. »)
    return _ends_at(text, end.start(), end.end(1) if end.group(1) else end.end(2))


def _speakable(piece: str) -> bool:
    """A piece of punctuation alone (a closing quote, the "!" of "?!") has nothing to say."""
    return any(not unicodedata.category(ch).startswith("P") and not ch.isspace() for ch in piece)


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
        while (cut := self._next_cut()) is not None:
            if piece := self._take(cut):
                pieces.append(piece)
        return pieces

    def flush(self) -> list[str]:
        rest = clean_for_speech(self._buffer)
        self._buffer = ""
        return [rest] if _speakable(rest) else []

    def _next_cut(self) -> int | None:
        """Where the next piece ends in the buffer, or None while it may still grow."""
        for match in _SENTENCE_END.finditer(self._buffer):
            marks_end = match.end(1) if match.group(1) else match.end(2)
            if _ends_at(self._buffer, match.start(), marks_end):
                return match.end()
        if self._emitted == 0 and (cut := self._first_cjk_clause()) is not None:
            return cut
        if self._emitted == 0 and self.first_words > 0 and (cut := self._after_words()) is not None:
            return cut
        if self._emitted == 0 and len(self._buffer) >= self.first_chunk_chars:
            for match in _CLAUSE_END.finditer(self._buffer):
                if match.start() >= self.first_chunk_chars // 2:
                    return match.end()
        # The first piece is what the user waits for: a long first sentence with no comma to cut at is cut
        # at a word past twice the first-piece length, not at `max_chars`.
        limit = self.max_chars
        if self._emitted == 0 and self.first_chunk_chars > 0:
            limit = min(limit, 2 * self.first_chunk_chars)
        if len(self._buffer) > limit:
            head = self._buffer[:limit]
            clauses = [m.end() for m in _CLAUSE_END.finditer(head) if m.start() >= limit // 3]
            space = head.rfind(" ")
            return clauses[-1] if clauses else space + 1 if space > 0 else limit
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

    def _take(self, end: int) -> str:
        piece = clean_for_speech(self._buffer[:end])
        self._buffer = self._buffer[end:]
        if not _speakable(piece):
            return ""
        self._emitted += 1
        return piece
