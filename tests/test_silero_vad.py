"""Silero VAD (`VOICECHAT_VAD=silero`): it ends speech in steady noise where webrtcvad hears voice throughout,
still splits clean speech like webrtcvad, takes noise alone for nothing, and a damaged model file stops the
server with one clear error. Speech is synthesized from known text; noise is mixed in at 10 dB SNR."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.speech import espeak_speech, piper_speech, silence, wer, with_noise
from tests.test_models import assert_one_clear_error, flip_a_byte, package_dir, start_server
from tests.wsclient import NativeClient
from voicechat.bundles import sha256_of
from voicechat.silero_vad import FILE_NAME, SILERO_VAD, SileroVAD
from voicechat.vad import Segmenter, SegmenterConfig, SpeechStopped

TEXTS = ["What is the capital of France?", "Please remind me to water the plants tomorrow morning.",
         "Who painted the Mona Lisa?"]


@pytest.fixture(scope="module")
def silero() -> SileroVAD:
    return SileroVAD()


def stops(segmenter: Segmenter, pcm: bytes, chunk: int = 640) -> list[SpeechStopped]:
    found: list[SpeechStopped] = []
    for offset in range(0, len(pcm), chunk):
        found += [e for e in segmenter.feed(pcm[offset : offset + chunk], offset / 32000)
                  if isinstance(e, SpeechStopped)]
    return found


def noisy_question(speak, text: str, seed: int) -> bytes:  # type: ignore[no-untyped-def]
    return with_noise(silence(500) + speak(text) + silence(1500), snr_db=10, seed=seed)


@pytest.mark.parametrize("speak", [piper_speech, espeak_speech], ids=["piper", "espeak-ng"])
def test_silero_ends_speech_in_noise_where_webrtcvad_never_does(silero: SileroVAD, speak) -> None:  # type: ignore[no-untyped-def]
    config = SegmenterConfig(hangover_ms=600)
    for seed, text in enumerate(TEXTS):
        pcm = noisy_question(speak, text, seed)
        ended = stops(Segmenter(config, detector=silero.stream()), pcm)
        assert len(ended) == 1 and ended[0].reason == "silence", text
        utterance = ended[0].utterance
        assert utterance is not None
        # Where the speech ends, as webrtcvad finds it in the clean clip: Silero's end in noise is near it.
        clean_end = stops(Segmenter(config), silence(500) + speak(text) + silence(1500))[0].at_ms
        assert clean_end - 150 <= ended[0].at_ms <= clean_end + 250, (text, clean_end, ended[0].at_ms)
        assert utterance.start_ms <= 500  # the speech starts at 500 ms: none of it is cut
        # webrtcvad takes the same noise for voice: the speech never ends (the turn would wait for the cut).
        assert stops(Segmenter(config), pcm) == [], text


def test_silero_splits_clean_speech_into_its_utterances(silero: SileroVAD) -> None:
    pcm = silence(400) + piper_speech(TEXTS[0]) + silence(1200) + espeak_speech(TEXTS[1]) + silence(1200)
    ended = stops(Segmenter(SegmenterConfig(hangover_ms=600), detector=silero.stream()), pcm)
    assert [e.reason for e in ended] == ["silence", "silence"]
    assert all(e.utterance is not None for e in ended)


def test_noise_alone_is_not_speech_to_silero(silero: SileroVAD) -> None:
    # The noise of the tests above at the level it has next to speech, with nothing said.
    speech = np.frombuffer(piper_speech(TEXTS[0]), "<i2")
    mix = np.frombuffer(with_noise(speech.tobytes(), snr_db=10, seed=7), "<i2")
    noise_only = (mix.astype(np.int32) - speech).clip(-32768, 32767).astype("<i2").tobytes()
    segmenter = Segmenter(SegmenterConfig(), detector=silero.stream())
    assert stops(segmenter, noise_only + noise_only) == [] and not segmenter.speaking


def test_the_segmenter_steps_by_silero_frames(silero: SileroVAD) -> None:
    segmenter = Segmenter(SegmenterConfig(frame_ms=30), detector=silero.stream())
    assert segmenter.config.frame_ms == 32  # the frame the model was trained on, whatever VAD_FRAME_MS says


async def test_a_server_with_silero_hears_a_question_out_of_noise(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server(vad="silero", vad_hangover_ms=600, stt_partial_interval_ms=0)
    client = await NativeClient.connect(server.ws)
    assert "Silero VAD v6" in client.ready["engines"]["vad"]
    await client.update(auto_respond=False)
    await client.stream(noisy_question(piper_speech, TEXTS[1], seed=3))
    stopped = await client.expect("speech.stopped")
    assert stopped["reason"] == "silence" and stopped["ignored"] is None
    transcript = await client.expect("transcript")
    assert wer(TEXTS[1], transcript["text"]) <= 0.2, transcript["text"]
    await client.close()


def test_a_damaged_silero_file_stops_the_server_naming_file_and_hashes(tmp_path: Path) -> None:
    """faster-whisper's copy of the model, altered: a copy of the package, first on the server's path."""
    site = tmp_path / "site"
    shutil.copytree(package_dir("faster_whisper"), site / "faster_whisper")
    damaged = site / "faster_whisper" / "assets" / FILE_NAME
    flip_a_byte(damaged)
    # A remote STT server and the in-place tiny brain: nothing big is assembled before the check (none is
    # contacted).
    run = start_server({"VOICECHAT_VAD": "silero", "PYTHONPATH": str(site), "VOICECHAT_LOCAL_MODEL": "tiny",
                        "VOICECHAT_STT_URL": "http://127.0.0.1:9/v1"}, tmp_path / "models")
    error = assert_one_clear_error(run)
    assert str(damaged) in error and SILERO_VAD.files[0].sha256 in error and sha256_of(damaged) in error
    assert "pip install --force-reinstall --no-deps faster-whisper==1.2.1" in error
