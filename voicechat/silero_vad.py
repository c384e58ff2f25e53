"""Silero VAD v6 as the segmenter's voice detector (`VOICECHAT_VAD=silero`): speech apart from steady noise.

webrtcvad judges a frame by its spectrum's energy: a fan or a car at 10 dB SNR reads as voice frame after
frame, so speech never ends and the turn waits for the 30 s cut (bench/wer.py, "VAD never ended"). Silero's
small recurrent network (MIT) hears the voice itself: 0.2 ms per 32 ms frame on one thread.

The model file is the one faster-whisper ships (`faster_whisper/assets/silero_vad_v6.onnx`, 1.2 MB), so it
costs no new package. The `silero-vad` package on PyPI holds the same network, but it requires torch and
torchaudio (hundreds of MB) for its Python side, which we do not use. The file is pinned twice like every
bundled model (bundles.py): faster-whisper's version (the `silero` extra installs exactly that one) and the
file's sha256, checked at startup; a mismatch is a startup error, never a silent fallback to webrtcvad.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .bundles import Bundle, PinnedFile

FILE_NAME = "silero_vad_v6.onnx"
SILERO_VAD = Bundle(
    title="voice activity model Silero VAD v6 (faster-whisper's copy)",
    requirements=("faster-whisper==1.2.1",),
    files=(PinnedFile(FILE_NAME, (f"faster_whisper/assets/{FILE_NAME}",),
                      "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"),),
)

FRAME_SAMPLES = 512  # at 16 kHz: the frame length the model was trained on (32 ms)
FRAME_MS = 32
CONTEXT_SAMPLES = 64  # the end of the previous frame, which the v5/v6 models read before each new one
# Speech stays speech until the probability falls this far below the threshold: the model's own
# hysteresis (silero's get_speech_timestamps uses 0.15), so a dip mid-word does not end the utterance.
RELEASE_MARGIN = 0.15
State = tuple[np.ndarray, np.ndarray]  # the recurrent layer's h and c, carried from frame to frame


class SileroVAD:
    """The loaded model, shared by every session of the process; each stream keeps its own state."""

    def __init__(self, threshold: float = 0.5, path: Path | None = None) -> None:
        import onnxruntime as ort

        self.path = path if path is not None else SILERO_VAD.prepare(Path("."))[FILE_NAME]
        options = ort.SessionOptions()
        # One thread: a frame is 0.2 ms of work, and whisper needs the cores at the same moments.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()
        self.threshold = threshold
        self.description = f"Silero VAD v6 (threshold {threshold:g}) from {self.path}"

    def run(self, audio: np.ndarray, state: State) -> tuple[float, State]:
        """Speech probability of one frame (`CONTEXT_SAMPLES + FRAME_SAMPLES` floats) and the next state."""
        h, c = state
        with self._lock:  # sessions live on one event loop, but benchmarks and tests may share a model
            probability, h, c = self._session.run(None, {"input": audio[np.newaxis], "h": h, "c": c})
        return float(np.asarray(probability).reshape(-1)[0]), (h, c)

    def stream(self) -> SileroStream:
        """A detector for one audio stream (one session's segmenter)."""
        return SileroStream(self)


class SileroStream:
    """`VoiceDetector` over the shared model: a 32 ms frame is voiced at `threshold`, and stays voiced
    while the probability is within `RELEASE_MARGIN` below it."""

    frame_ms = FRAME_MS

    def __init__(self, model: SileroVAD) -> None:
        self._model = model
        self._state: State = (np.zeros((1, 1, 128), np.float32), np.zeros((1, 1, 128), np.float32))
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self._voiced = False
        self.probability = 0.0  # the last frame's, for benchmarks and logs

    def is_speech(self, frame: bytes) -> bool:
        samples = np.frombuffer(frame, "<i2").astype(np.float32) / 32768.0
        if samples.size != FRAME_SAMPLES:
            raise ValueError(f"Silero VAD frames are {FRAME_SAMPLES} samples, got {samples.size}")
        self.probability, self._state = self._model.run(np.concatenate([self._context, samples]), self._state)
        self._context = samples[-CONTEXT_SAMPLES:]
        limit = self._model.threshold - (RELEASE_MARGIN if self._voiced else 0.0)
        self._voiced = self.probability >= limit
        return self._voiced
