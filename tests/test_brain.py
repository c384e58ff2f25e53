"""The bundled default brain (Qwen2.5-Coder-0.5B-Instruct) over the real server, typed turns: it answers
simple factual questions right, in a few plain sentences, in the user's language. And the local reply limit
holds whatever a model would go on to say. No timing here: speed is bench/latency.py's, accuracy over a
spoken set is bench/quality.py's."""

from __future__ import annotations

import asyncio
import re

from tests.conftest import make_settings
from tests.wsclient import NativeClient
from voicechat.llm import EXAMPLES, LocalChat, available_cores
from voicechat.sentences import SentenceChunker

# (question, any of these in the reply means right): facts a half-billion-parameter model should know.
QUESTIONS = [
    ("What is the capital of Japan?", ("tokyo",)),
    ("What is the largest ocean on Earth?", ("pacific",)),
    ("Who wrote Romeo and Juliet?", ("shakespeare",)),
    ("How many minutes are in three hours?", ("180", "one hundred eighty", "one hundred and eighty")),
    ("At how many degrees Celsius does water boil at sea level?", ("100", "hundred")),
    # With "eight plus five is thirteen" among the examples, the model answered this one "thirteen" too.
    ("What is five plus seven?", ("12", "twelve")),
    ("中国的首都是哪里？", ("北京",)),
]
MARKUP = re.compile(r"(\*\*|`|^\s*(?:[-*•]|\d+[.)])\s)", re.MULTILINE)


def sentences(text: str) -> int:
    chunker = SentenceChunker(first_chunk_chars=10_000, max_chars=10_000)
    return len(chunker.feed(text) + chunker.flush())


async def test_the_default_brain_answers_simple_questions_right_briefly_and_in_their_language(start_server):
    server = start_server()  # the shipped default: no chat server configured, the bundled brain
    client = await NativeClient.connect(server.ws)
    ready = client.ready
    assert "qwen2.5-coder-0.5b-instruct" in ready["engines"]["chat"]
    replies: list[tuple[str, str]] = []
    try:
        for question, _ in QUESTIONS:
            seen = len(client.events)
            await client.send({"type": "text", "text": question})
            done = await client.find("turn.done", timeout=120, after=seen)
            assert done["status"] == "completed", done
            # The reply as written (the spoken text may be cut shorter by TTS chunking, never longer).
            written = "".join(e["delta"] for e in client.events[seen:]
                              if e["type"] == "reply.text.delta" and e["turn_id"] == done["turn_id"])
            replies.append((question, written))
    finally:
        await client.close()
    wrong = [(q, r) for (q, keys), (_, r) in zip(QUESTIONS, replies, strict=True)
             if not any(k in r.lower() for k in keys)]
    assert not wrong, wrong
    for question, reply in replies:
        assert 1 <= sentences(reply) <= 3, (question, reply)
        assert not MARKUP.search(reply), (question, reply)
    chinese = replies[-1][1]
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in chinese) > len(chinese) / 3, chinese  # in Chinese


async def test_a_local_reply_ends_after_the_sentence_limit():
    chat = LocalChat(make_settings(local_model="tiny", local_max_sentences=2))
    story = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    written = "".join([piece async for piece in chat.stream(story)])
    assert sentences(written) == 2, written
    assert chat.stats["sentence_limit"] == 1
    unlimited = LocalChat(make_settings(local_model="tiny", local_max_sentences=0))
    assert sentences("".join([piece async for piece in unlimited.stream(story)])) > 2  # the model says more



async def test_warming_the_model_while_it_writes_waits_for_the_reply_and_leaves_it_whole():
    # warm() resets llama.cpp's cached prompt; called from another thread beside a running generation (as
    # bench/latency.py did between turns while a discarded guess still ran), llama.cpp aborted the process
    # with a GGML_ASSERT. It now runs on the model's own thread after the reply under way.
    chat = LocalChat(make_settings(local_model="tiny", local_max_sentences=0, local_temperature=0.0))
    story = [{"role": "user", "content": "Tell me a long story about a dragon."}]
    alone = "".join([piece async for piece in chat.stream(story)])
    stream = chat.stream(story)
    written = [await anext(stream)]  # the reply is being written now
    warming = asyncio.create_task(asyncio.to_thread(chat.warm))
    written += [piece async for piece in stream]
    await warming
    assert "".join(written) == alone  # greedy: the same words as when nothing got in the way

def test_the_local_model_writes_with_every_core_the_server_may_use():
    # llama.cpp's own default writes with half the cores: one thread on a 2-core box, half the speed.
    chat = LocalChat(make_settings(local_model="tiny"))
    assert chat._llama.context_params.n_threads == available_cores()
    assert chat._llama.context_params.n_threads_batch == available_cores()
    pinned = LocalChat(make_settings(local_model="tiny", local_threads=1))
    assert pinned._llama.context_params.n_threads == 1


async def test_a_long_conversation_still_fits_the_context_with_the_examples_before_it():
    # The examples come before every conversation: dropping old turns must leave room for them too.
    settings = make_settings(local_model="tiny", local_context=512, chat_max_tokens=64)
    chat = LocalChat(settings)
    turn = "Tell me again about the weather in the mountains near the old village by the lake. " * 3
    history: list[dict[str, str]] = [{"role": "system", "content": settings.system_prompt}]
    for _ in range(12):  # far more than 512 tokens in all
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": "It is sunny."}]
    history.append({"role": "user", "content": "What is the capital of France?"})
    written = "".join([piece async for piece in chat.stream(history)])
    assert written.strip()


def test_the_examples_go_only_before_the_servers_own_system_prompt():
    # A session's own persona gets no examples (they would make every such prompt a cold one); the
    # default prompt, also when told the reply language, gets them after it.
    settings = make_settings(local_model="tiny")
    chat = LocalChat(settings)
    question = {"role": "user", "content": "What is the capital of France?"}
    persona = chat._prompt([{"role": "system", "content": "You are a terse pirate."}, question])
    assert [m["role"] for m in persona] == ["system", "user"]
    for system in (settings.system_prompt, settings.system_prompt + "\n\nThe user speaks Chinese."):
        default = chat._prompt([{"role": "system", "content": system}, question])
        assert len(default) == 2 + 2 * len(EXAMPLES)
        assert default[1]["content"] == EXAMPLES[0][0] and default[-1] == question
