"""The chunker on realistic replies in the languages the project speaks: numbers, abbreviations, initials,
times, quotes and lists are never cut inside, however the model's stream is split into tokens; and a
normal sentence end goes to the voice on the same token as before."""

from __future__ import annotations

import re

import pytest

from voicechat.sentences import SentenceChunker, starts_new_sentence

# Roughly how the local model (Qwen2.5) splits text: digits one by one, a word with its leading space,
# punctuation with the letters glued after it (".com", ".S", '."'), each CJK character alone.
_MODEL_TOKEN = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]|\s?\d|\s?[^\W\d_]+"
                          r"|[^\w\s]+[^\W\d_]*|\s+")


def model_tokens(text: str) -> list[str]:
    tokens = _MODEL_TOKEN.findall(text)
    assert "".join(tokens) == text
    return tokens


SPLITS = {
    "whole": lambda text: [text],
    "characters": list,
    "words": lambda text: re.findall(r"\s*\S+|\s+$", text),
    "model tokens": model_tokens,
}


def stream(tokens: list[str], **options: int) -> list[str]:
    chunker = SentenceChunker(**options)
    pieces = [piece for token in tokens for piece in chunker.feed(token)]
    return pieces + chunker.flush()


CASES = [
    # English
    ("Mount Everest is 8,849 metres tall. It is in Nepal.",
     ["Mount Everest is 8,849 metres tall.", "It is in Nepal."]),
    ("The highest mountain in the world is Mount Everest at 8,849 metres above sea level. It is in Nepal.",
     ["The highest mountain in the world is Mount Everest at 8,849 metres above sea level.",
      "It is in Nepal."]),
    ("The train to Berlin leaves from platform four every single morning at 10:30 and arrives at noon.",
     ["The train to Berlin leaves from platform four every single morning at 10:30 and arrives at noon."]),
    ("The meeting starts at 10:30. Lunch is at noon.", ["The meeting starts at 10:30.", "Lunch is at noon."]),
    ("A coffee costs $4.99 here. Tea is cheaper.", ["A coffee costs $4.99 here.", "Tea is cheaper."]),
    ("Pi is about 3.14159. It never ends.", ["Pi is about 3.14159.", "It never ends."]),
    ("It was built in 1889. It is 330 metres tall.", ["It was built in 1889.", "It is 330 metres tall."]),
    ("J. K. Rowling wrote Harry Potter.", ["J. K. Rowling wrote Harry Potter."]),
    ("J.K. Rowling wrote Harry Potter.", ["J.K. Rowling wrote Harry Potter."]),
    ("I lived in the U.S.A. for years. Now I live in Paris.",
     ["I lived in the U.S.A. for years.", "Now I live in Paris."]),
    ("Dr. Smith and Mr. Jones met on Monday. They talked.",
     ["Dr. Smith and Mr. Jones met on Monday.", "They talked."]),
    ("The museum opens at 9 a.m. on Monday. It closes at 5 p.m. Tickets cost $12.",
     ["The museum opens at 9 a.m. on Monday.", "It closes at 5 p.m.", "Tickets cost $12."]),
    ("Bring some fruit, e.g. apples or pears. Thanks!",
     ["Bring some fruit, e.g. apples or pears.", "Thanks!"]),
    ("Take the fast one, i.e. the train. It is quicker.",
     ["Take the fast one, i.e. the train.", "It is quicker."]),
    ("We sell apples, pears, etc. The shop opens daily.",
     ["We sell apples, pears, etc.", "The shop opens daily."]),
    ("We sell apples, pears, etc.", ["We sell apples, pears, etc."]),
    ("Cars, bikes, etc. are welcome here.", ["Cars, bikes, etc. are welcome here."]),
    ("No. 5 is my favourite number.", ["No. 5 is my favourite number."]),
    ("No. The capital of Australia is Canberra.", ["No.", "The capital of Australia is Canberra."]),
    ("Climb Mt. Everest in May. It is cold.", ["Climb Mt. Everest in May.", "It is cold."]),
    ("Visit https://example.com/help or mail info@example.com today. Bye.",
     ["Visit https://example.com/help or mail info@example.com today.", "Bye."]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("Why did the cat sleep? Because it was hot.", ["Why did the cat sleep?", "Because it was hot."]),
    ("Here are two ideas.\n1. Visit the Louvre.\n2. Walk along the Seine.",
     ["Here are two ideas.", "1. Visit the Louvre.", "2. Walk along the Seine."]),
    # German
    ("Der Tag der Deutschen Einheit ist am 3. Oktober. Das ist ein Feiertag.",
     ["Der Tag der Deutschen Einheit ist am 3. Oktober.", "Das ist ein Feiertag."]),
    ("Das Haus wurde im 19. Jahrhundert gebaut. Es ist alt.",
     ["Das Haus wurde im 19. Jahrhundert gebaut.", "Es ist alt."]),
    ("Man kann z. B. Brot kaufen. Das ist gut.", ["Man kann z. B. Brot kaufen.", "Das ist gut."]),
    ("Man kann z.B. Brot kaufen. Das ist gut.", ["Man kann z.B. Brot kaufen.", "Das ist gut."]),
    ("Pi ist ungefähr 3,14. Das weiß jeder.", ["Pi ist ungefähr 3,14.", "Das weiß jeder."]),
    ("Eine Tasse Kaffee im kleinen Café am Bahnhof kostet heute nur 3,50 Euro und schmeckt gut.",
     ["Eine Tasse Kaffee im kleinen Café am Bahnhof kostet heute nur 3,50 Euro und schmeckt gut."]),
    ("Dr. Müller wohnt in der Hauptstraße Nr. 5 in Berlin.",
     ["Dr. Müller wohnt in der Hauptstraße Nr. 5 in Berlin."]),
    ("Das Projekt kostet 5 Mio. Euro. Das ist viel.", ["Das Projekt kostet 5 Mio. Euro.", "Das ist viel."]),
    ("Der Zug fährt um 10:30 Uhr ab. Er ist pünktlich.",
     ["Der Zug fährt um 10:30 Uhr ab.", "Er ist pünktlich."]),
    # French
    ("M. Dupont habite à Paris. Il est médecin.", ["M. Dupont habite à Paris.", "Il est médecin."]),
    ("Pi vaut environ 3,14. C'est un nombre célèbre.", ["Pi vaut environ 3,14.", "C'est un nombre célèbre."]),
    ("Il a dit « bonjour. » Puis il est parti.", ["Il a dit « bonjour. »", "Puis il est parti."]),
    # Spanish, Italian, Russian
    ("El Sr. García vive en EE. UU. desde 2010. Es médico.",
     ["El Sr. García vive en EE. UU. desde 2010.", "Es médico."]),
    ("Il Sig. Rossi è arrivato. Ciao.", ["Il Sig. Rossi è arrivato.", "Ciao."]),
    ("Москва, т. е. столица, большой город. Да.", ["Москва, т. е. столица, большой город.", "Да."]),
    # Chinese, Japanese
    ("珠峰高8,849米。它在尼泊尔。", ["珠峰高8,849米。", "它在尼泊尔。"]),
    ("圆周率约等于3.14。会议在10:30开始。", ["圆周率约等于3.14。", "会议在10:30开始。"]),
    ("他说：“你好。”然后走了。", ["他说：“你好。”", "然后走了。"]),
    ("東京タワーの高さは333メートルです。とても高いです。",
     ["東京タワーの高さは333メートルです。", "とても高いです。"]),
]  # fmt: skip


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("reply", "pieces"), CASES, ids=[reply[:32] for reply, _ in CASES])
def test_a_reply_is_cut_into_the_same_whole_pieces_however_it_streams(reply: str, pieces: list[str],
                                                                       split: str):
    assert stream(SPLITS[split](reply)) == pieces


def test_the_sentence_limit_counts_the_sentences_the_chunker_cuts():
    # The local model's sentence limit (llm.py) counts with starts_new_sentence: the same ends.
    for reply, pieces in CASES:
        if any(piece[-1:] in ",，" for piece in pieces) or "\n" in reply:
            continue  # a clause piece is not a sentence; a list item has no end of its own in the count
        written, count = "", 1
        for token in model_tokens(reply):
            count += starts_new_sentence(written, token)
            written += token
        assert count == len(pieces), reply


def test_a_dot_streamed_alone_after_a_word_is_the_price_of_a_sentence_going_out_at_once():
    # "Paris." goes to the voice on its dot, before the next token shows whether ".com" or ".." follows. The
    # model writes ".com" and "..." as one token (see model_tokens): only a stream of characters splits them.
    for reply, by_character in (("Visit example.com for more.", ["Visit example.", "com for more."]),
                                ("Wait... what?", ["Wait.", "what?"])):
        assert stream(model_tokens(reply)) == stream(re.findall(r"\s*\S+", reply)) != by_character
        assert stream(list(reply)) == by_character
    # "?" goes at once too; the "!" of "?!" streamed alone is dropped, not spoken as a piece of its own.
    assert stream(model_tokens("Really?! That is great.")) == ["Really?!", "That is great."]
    assert stream(list("Really?! That is great.")) == ["Really?", "That is great."]


def test_a_long_first_sentence_is_cut_at_a_clause_but_never_inside_a_number():
    cases = [
        ("Eine Tasse Kaffee im kleinen Café am Bahnhof kostet heute nur 3,50 Euro und schmeckt gut. Ja.",
         ["Eine Tasse Kaffee im kleinen Café am Bahnhof kostet heute nur 3,50 Euro und schmeckt gut.",
          "Ja."]),
        ("A cup of coffee at the cafe near the station costs $4.99, which is cheap for the city.",
         ["A cup of coffee at the cafe near the station costs $4.99,", "which is cheap for the city."]),
        ("The Eiffel Tower in Paris was built for the World Fair in 1889, and it is 330 metres tall.",
         ["The Eiffel Tower in Paris was built for the World Fair in 1889,", "and it is 330 metres tall."]),
        ("珠穆朗玛峰高8,849米，是世界最高峰。它在尼泊尔。",
         ["珠穆朗玛峰高8,849米，", "是世界最高峰。", "它在尼泊尔。"]),
    ]
    for reply, pieces in cases:
        for split in ("characters", "model tokens"):
            assert stream(SPLITS[split](reply)) == pieces, (split, reply)
    # A sentence with no end in sight is cut at a space, never inside "8,849".
    reply = "Mount Everest is 8,849 metres tall " + "and very cold " * 20
    assert all(piece[-1:].isalpha() for piece in stream(list(reply), max_chars=40)[:-1])


# Normal replies of the local model (bench/first_piece.py's run of this session, /tmp/listening), split as
# its tokenizer split them: the index of the token after which the first piece goes to the voice.
FIRST_PIECE_TOKEN = [
    (["The", " capital", " of", " France", " is", " Paris", "."], 6),
    (["Mount", " Everest", " is", " ", "8", "8", "4", "8", " meters", " tall", "."], 10),
    (["It", " is", " currently", " ", "1", "0", ":", "0", "0", " AM", " in", " Tokyo", "."], 12),
    (["The", " history", " of", " Rome", " is", " a", " long", " and", " complex", " one", ".", " It"], 10),
    (["A", " good", " book", " about", " space", " is", ' "', "The", " Space", " Odyssey", '."'], 10),
    (["A", " leap", " year", " has", " ", "3", "6", "6", " days", ",", " which", " is", " equivalent", " to",
      " ", "8", "6", "4", "0", "0", " seconds", "."], 21),
    (["Why", " did", " the", " cat", " sleep", " in", " the", " kitchen", "?", " Because"], 8),
    (["It", " was", " built", " in", " ", "1", "8", "8", "9", ".", " It", " is"], 10),  # a number's dot: next
    (["Open", " the", " front", " door", ",", " please", "."], 6),
]  # fmt: skip


@pytest.mark.parametrize(("tokens", "expected"), FIRST_PIECE_TOKEN,
                         ids=["".join(tokens)[:24] for tokens, _ in FIRST_PIECE_TOKEN])
def test_a_normal_reply_goes_to_the_voice_on_the_same_token_as_before(tokens: list[str], expected: int):
    chunker = SentenceChunker()
    first = next(index for index, token in enumerate(tokens + [""]) if chunker.feed(token))
    assert first == expected


def test_where_what_follows_decides_the_piece_waits_one_token_and_no_more():
    # The token after the dot (or after the closing quote it waits for) lets the piece go.
    for tokens in ([" It", " was", " built", " in", " ", "1", "8", "8", "9", ".", " It"],
                   ["We", " sell", " pears", ",", " etc", ".", " The"],
                   ["He", " said", ' "', "stop", ".", '"'],
                   ["Il", " a", " dit", " «", " bonjour", ".", " »"],
                   ["他", "说", "：", "“", "你", "好", "。", "”"],
                   ["No", ".", " The"]):
        chunker = SentenceChunker()
        assert [chunker.feed(token) for token in tokens[:-1]] == [[]] * (len(tokens) - 1), tokens
        assert chunker.feed(tokens[-1]), tokens
