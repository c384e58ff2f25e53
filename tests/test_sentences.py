"""Sentence chunking for streamed speech."""

from __future__ import annotations

from voicechat.sentences import SentenceChunker, clean_for_speech, ends_sentence


def feed_all(chunker: SentenceChunker, text: str, step: int = 3) -> list[str]:
    pieces: list[str] = []
    for i in range(0, len(text), step):
        pieces += chunker.feed(text[i : i + step])
    return pieces + chunker.flush()


def test_sentences_come_out_as_soon_as_they_end():
    chunker = SentenceChunker()
    assert chunker.feed("Hello there! How") == ["Hello there!"]
    assert chunker.feed(" are you today? I") == ["How are you today?"]
    assert chunker.flush() == ["I"]


def test_decimal_points_and_abbreviations_do_not_split():
    pieces = feed_all(SentenceChunker(), "It costs 3.50 dollars, said Dr. Smith. Then he left.")
    assert pieces == ["It costs 3.50 dollars, said Dr. Smith.", "Then he left."]


def test_long_first_sentence_is_cut_at_a_clause():
    text = ("Well, the weather in Paris tomorrow will be mostly sunny with light winds, "
            "and temperatures will reach about twenty degrees in the afternoon.")
    pieces = feed_all(SentenceChunker(first_chunk_chars=60), text)
    assert len(pieces) == 2
    assert pieces[0].endswith("light winds,")


def test_chinese_sentence_ends():
    pieces = feed_all(SentenceChunker(), "你好！今天天气很好。我们去公园吧")
    assert pieces == ["你好！", "今天天气很好。", "我们去公园吧"]


def test_a_chinese_first_piece_ends_at_its_first_comma_once_it_says_enough():
    text = "法国的首都是巴黎，它是一座美丽的城市，有很多著名的博物馆；每年都有很多游客去那里。"
    pieces = feed_all(SentenceChunker(first_chunk_chars=60), text, step=1)
    # Before, the first piece waited for the ；: 29 characters, some six seconds of speech.
    assert pieces == ["法国的首都是巴黎，", "它是一座美丽的城市，有很多著名的博物馆；",
                      "每年都有很多游客去那里。"]
    short = feed_all(SentenceChunker(first_chunk_chars=60), "好的，我来告诉你：法国的首都是巴黎。", step=1)
    assert short == ["好的，我来告诉你：", "法国的首都是巴黎。"]  # "好的，" alone is too short


def test_markdown_is_not_read_aloud():
    assert clean_for_speech("**Bold** and `code`\n- item") == "Bold and code item"


def test_a_sentence_that_never_ends_is_cut_into_bounded_pieces():
    text = " ".join(["word"] * 200) + " and then, finally, more words without any end"
    pieces = feed_all(SentenceChunker(max_chars=120), text)
    assert len(pieces) > 5 and max(len(p) for p in pieces) <= 120
    assert " ".join(pieces).split() == text.replace(",", ",").split()


def test_ends_sentence_knows_a_finished_sentence_from_an_abbreviation_or_a_number():
    assert ends_sentence("Paris is the capital of France.")
    assert ends_sentence("Really?!  ")
    assert ends_sentence('He said "stop."')
    assert ends_sentence("你好。")
    assert not ends_sentence("Ask Dr.")
    assert not ends_sentence("It costs 3.")
    assert not ends_sentence("Paris is the capital")
    assert not ends_sentence("")


def test_a_long_first_sentence_without_a_comma_is_cut_at_a_word_early():
    text = ("The quick brown fox jumps over the lazy dog and keeps running through the quiet forest until "
            "it finally reaches the wide river where it stops to drink. Then it sleeps.")
    pieces = feed_all(SentenceChunker(first_chunk_chars=60), text, step=4)
    assert len(pieces[0]) <= 120 and text.startswith(pieces[0] + " ")  # cut between two words
    assert " ".join(pieces) == text
    # Later sentences keep the usual bound: only the first piece is what the user waits for.
    later = feed_all(SentenceChunker(first_chunk_chars=60), "Yes. " + text, step=4)
    assert later[1] == text[: text.index(". ") + 1]


def test_a_sentence_ending_on_a_plain_word_goes_out_without_waiting_for_the_next_token():
    # The model's last token of the sentence is "." and the next one is a second away on 2 cores' budget:
    # a dot after a plain word ends the sentence now.
    chunker = SentenceChunker()
    assert chunker.feed("The capital of France is Paris") == []
    assert chunker.feed(".") == ["The capital of France is Paris."]
    assert chunker.feed(' He said "stop."') == ['He said "stop."']
    assert chunker.feed(" It is") == [] and chunker.flush() == ["It is"]


def test_a_dot_that_may_go_on_still_waits_for_what_follows():
    for head, rest in (("It costs 3.", "50 dollars."), ("Ask Dr.", " Smith."), ("In the U.S.", "A."),
                       ("Wait..", "."), ("Climb Mt.", " Everest.")):
        chunker = SentenceChunker()
        assert chunker.feed(head) == [], head
        assert feed_all(chunker, rest) == [head + rest], head
    assert SentenceChunker().feed("Written by J.") == []  # an initial: "J.K. Rowling" may follow


def test_an_opted_in_first_piece_ends_after_its_words_once_the_next_word_begins():
    chunker = SentenceChunker(first_words=4)
    assert chunker.feed("The capital of France") == []  # "France" may still grow ("Frances")
    assert chunker.feed(" is") == ["The capital of France"]
    assert feed_all(chunker, " Paris. It is big.") == ["is Paris.", "It is big."]  # later pieces: sentences
    # A sentence that ends first is the first piece; numbers stay whole; 0 (the default) never cuts.
    assert feed_all(SentenceChunker(first_words=4), "Yes. The capital of France is Paris.") == \
        ["Yes.", "The capital of France is Paris."]
    assert feed_all(SentenceChunker(first_words=3), "Mount Everest is 8,849 meters tall.") == \
        ["Mount Everest is", "8,849 meters tall."]
    whole = "The capital of France is Paris."
    assert feed_all(SentenceChunker(), whole) == [whole]
