"""Whisper-style log-mel features in numpy, as the smart-turn end-of-turn model expects them.

smart-turn v3 is a whisper-tiny encoder with a classifier on top, trained on features made the way
Hugging Face's `WhisperFeatureExtractor` makes them for an 8 s window: the waveform scaled to zero mean and
unit variance first, then a centred 25 ms Hann STFT every 10 ms, an 80-band Slaney mel filterbank over
0-8 kHz, log10, the dynamic range clipped to 8 decades below the peak, and mapped to about [-1, 1]. Written
here so the server needs neither `transformers` nor `torch` for a 5 ms step.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 80


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3.0 / 200.0
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * 200.0 / 3.0
    log_part = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel >= 15.0, log_part, linear)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular filters, area-normalised (Slaney), shape (n_fft // 2 + 1, n_mels)."""
    bins = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    filters = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters * (2.0 / (upper - lower))  # equal area per band, so wide bands do not dominate


_WINDOW = np.hanning(N_FFT + 1)[:-1]  # periodic Hann (what torch.hann_window gives)
_FILTERS = mel_filterbank()


def log_mel(audio: np.ndarray, seconds: int = 8) -> np.ndarray:
    """80 x (100 * seconds) features of 16 kHz float audio, fitted to `seconds` (the last ones kept,
    silence put in front when shorter: the model reads the end of the window as "now")."""
    samples = seconds * SAMPLE_RATE
    x = np.asarray(audio, dtype=np.float32)[-samples:]
    if x.size < samples:
        x = np.concatenate([np.zeros(samples - x.size, dtype=np.float32), x])
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP]  # one row per 10 ms step, centred on it
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    logs = np.log10(np.maximum(power @ _FILTERS, 1e-10))[:-1].T  # whisper drops the frame past the end
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)
