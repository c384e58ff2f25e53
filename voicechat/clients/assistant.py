"""`voicechat assistant`: a hands-free voice assistant on this machine's microphone and speaker.

It is a client of the native door (`/ws`, docs/protocol.md): the microphone streams 16 kHz PCM16, the
server finds the utterances (VAD mode), and replies are played as they arrive. With `--barge-in`, talking
over a reply stops it (`reply.stop` -> playback stops, `playback.played_ms` goes back so the history keeps
only what was heard). Without it the microphone is muted while a reply plays: with a loudspeaker and no
echo cancellation the assistant would otherwise hear itself and interrupt its own answers.

`--wake-word hey_jarvis` turns on the server's wake word (docs/protocol.md#wake-word): nothing said without it
is transcribed, answered or stored, and after a reply the user may follow up without it. `--wake-phrase` is
the fallback for servers without wake words: every utterance is still transcribed (and stored) there, and
the client only cancels replies to those that do not start with the phrase.

`--input-wav` / `--output-wav` replace the sound card with files (a person who waits for each answer,
and what the speaker would have played), which makes it testable without sound hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import Any

import websockets

from ..audio import Pacer, read_wav, resample_pcm16, rms_dbfs, wav_bytes
from ..stt import normalise

log = logging.getLogger("voicechat.assistant")

MIC_RATE = 16000
SPEAKER_RATE = 24000
FRAME_MS = 20
MUTE_TAIL_S = 0.3  # the room still rings a little after the speaker stops
MAX_BACKOFF_S = 30.0
QUIET_DBFS = -50.0


class Playback:
    """Reply audio waiting to be played, consumed by the sound card's thread or a simulated clock."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, bytearray]] = deque()
        self._played: dict[str, int] = {}
        self.idle_since = time.monotonic()
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, turn_id: str, pcm: bytes) -> None:
        """Queue reply audio (called on the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._idle.clear()
        with self._lock:
            self._queue.append((turn_id, bytearray(pcm)))

    async def wait_idle(self) -> None:
        """Until everything queued has been played."""
        await self._idle.wait()

    def _became_idle(self) -> None:
        self.idle_since = time.monotonic()
        if self._loop is not None:  # take() may run on the sound card's thread
            self._loop.call_soon_threadsafe(self._set_idle)

    def _set_idle(self) -> None:
        if not self.pending():
            self._idle.set()

    def take(self, nbytes: int, pad: bool = True) -> bytes:
        """The next `nbytes` to play (silence-padded for a sound card); counts what each turn played."""
        out = bytearray()
        with self._lock:
            while self._queue and len(out) < nbytes:
                turn_id, pcm = self._queue[0]
                part = pcm[: nbytes - len(out)]
                del pcm[: len(part)]
                out += part
                self._played[turn_id] = self._played.get(turn_id, 0) + len(part)
                if not pcm:
                    self._queue.popleft()
                    if not self._queue:
                        self._became_idle()
        return bytes(out) + bytes(nbytes - len(out) if pad else 0)

    def pending(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def stop(self) -> None:
        """Drop everything not yet played (barge-in)."""
        with self._lock:
            self._queue.clear()
        self._became_idle()

    def played_ms(self, turn_id: str) -> int:
        with self._lock:
            return round(self._played.get(turn_id, 0) / 2 / self.rate * 1000)


class FileSpeaker:
    """Plays into a WAV file on a simulated real-time clock (or at once with `fast`)."""

    def __init__(self, playback: Playback, path: str, fast: bool) -> None:
        self.playback, self.path, self.fast = playback, path, fast
        self.audio = bytearray()

    async def run(self) -> None:
        step = self.playback.rate * 2 * FRAME_MS // 1000
        while True:
            if self.playback.pending():
                self.audio += self.playback.take(step * (50 if self.fast else 1), pad=False)
            await asyncio.sleep(0 if self.fast else FRAME_MS / 1000)  # the speaker's own pace

    def close(self) -> None:
        with open(self.path, "wb") as handle:
            handle.write(wav_bytes(bytes(self.audio), self.playback.rate))


class SoundDeviceSpeaker:
    """The default output device, fed from `Playback` by PortAudio's callback thread."""

    def __init__(self, playback: Playback, device: Any = None) -> None:
        sd = _sounddevice()

        def callback(outdata: Any, frames: int, _time: Any, _status: Any) -> None:
            outdata[:] = playback.take(frames * 2)

        self.stream = sd.RawOutputStream(samplerate=playback.rate, channels=1, dtype="int16",
                                         blocksize=playback.rate * FRAME_MS // 1000, device=device,
                                         callback=callback)
        self.stream.start()

    async def run(self) -> None:
        await asyncio.Event().wait()

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


class WavMicrophone:
    """A WAV file as the microphone, at real-time pace (or as fast as the socket takes it)."""

    def __init__(self, path: str, fast: bool) -> None:
        pcm, rate = read_wav(path)
        self.pcm = resample_pcm16(pcm, rate, MIC_RATE)
        self.offset = 0
        self.fast = fast
        self.pacer = Pacer(MIC_RATE)

    async def read(self, hold: bool) -> bytes | None:
        """The next 20 ms frame; `hold` sends silence without moving on (a person waiting for the
        answer). None at the end of the file."""
        step = MIC_RATE * 2 * FRAME_MS // 1000
        frame = bytes(step) if hold else self.pcm[self.offset : self.offset + step]
        if not hold and not frame:
            return None
        if not self.fast:  # a microphone delivers a frame once it has been spoken
            await self.pacer.wait(step)
        elif hold or rms_dbfs(frame) < QUIET_DBFS:
            # Fast mode hurries through speech only: pauses keep their real length, so the server's
            # end-of-utterance arrives within the pause, as it would live, before the next words.
            await asyncio.sleep(FRAME_MS / 1000)
        if not hold:
            self.offset += step
        return frame


class SoundDeviceMicrophone:
    """The default input device at 16 kHz mono, 20 ms blocks from PortAudio's thread to the loop."""

    def __init__(self, device: Any = None) -> None:
        sd = _sounddevice()
        loop = asyncio.get_running_loop()
        self.frames: asyncio.Queue[bytes] = asyncio.Queue(maxsize=200)

        def callback(indata: Any, _frames: int, _time: Any, _status: Any) -> None:
            loop.call_soon_threadsafe(self._put, bytes(indata))

        self.stream = sd.RawInputStream(samplerate=MIC_RATE, channels=1, dtype="int16",
                                        blocksize=MIC_RATE * FRAME_MS // 1000, device=device,
                                        callback=callback)
        self.stream.start()

    def _put(self, frame: bytes) -> None:
        if self.frames.full():  # the connection is stalled: old audio is worth nothing
            self.frames.get_nowait()
        self.frames.put_nowait(frame)

    async def read(self, hold: bool) -> bytes | None:
        frame = await self.frames.get()
        return bytes(len(frame)) if hold else frame

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise SystemExit(
            f"error: no sound device support ({exc}). Install PortAudio (Debian: apt-get install "
            "libportaudio2) and `pip install sounddevice`, or use --input-wav/--output-wav."
        ) from exc
    return sounddevice


class Assistant:
    """One assistant run: connects (and reconnects), streams the microphone, plays and logs turns."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.wake = normalise(args.wake_phrase) if args.wake_phrase else ""
        self.playback = Playback(SPEAKER_RATE)
        self.input_done = False
        self.turns_done = 0

    async def run(self) -> int:
        args = self.args
        mic: WavMicrophone | SoundDeviceMicrophone = (
            WavMicrophone(args.input_wav, args.fast) if args.input_wav else SoundDeviceMicrophone(args.device)
        )
        speaker: FileSpeaker | SoundDeviceSpeaker = (
            FileSpeaker(self.playback, args.output_wav, args.fast) if args.output_wav
            else SoundDeviceSpeaker(self.playback, args.device)
        )  # fmt: skip
        player = asyncio.create_task(speaker.run())
        delay, failures = 0.5, 0
        try:
            while True:
                try:
                    if await self._connection(mic):
                        return 0
                    delay, failures = 0.5, 0  # it was up: start the backoff again
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    failures += 1
                    log.warning("connection to %s failed (%s); retrying in %.1f s", args.url, exc, delay)
                    if args.input_wav and failures > args.max_retries:
                        return 3
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        finally:
            player.cancel()
            speaker.close()
            if isinstance(mic, SoundDeviceMicrophone):
                mic.close()

    async def _connection(self, mic: WavMicrophone | SoundDeviceMicrophone) -> bool:
        """One connection; True when the input ended and every turn was answered and played."""
        args = self.args
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        async with websockets.connect(args.url, max_size=None, additional_headers=headers) as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            log.info("connected to %s (%s)", args.url, ready.get("session_id"))
            session: dict[str, Any] = {"turn_mode": "vad", "barge_in": args.barge_in,
                                       "input_audio": {"format": "pcm16", "rate": MIC_RATE},
                                       "output_audio": {"format": "pcm16", "rate": SPEAKER_RATE}}
            if args.language:
                session["language"] = args.language
            if args.voice:
                session["voice"] = args.voice
            if args.wake_word:
                session["wake_word"] = args.wake_word
            await ws.send(json.dumps({"type": "session.update", "session": session}))
            await self._settings_accepted(ws)
            state = _ConnectionState()
            receiver = asyncio.create_task(self._receive(ws, state))
            try:
                while not receiver.done():
                    waiting = bool(args.input_wav) and not args.barge_in and state.busy(self.playback)
                    muted = not args.barge_in and (
                        self.playback.pending() or time.monotonic() - self.playback.idle_since < MUTE_TAIL_S
                    )
                    frame = await mic.read(hold=waiting or (muted and not args.input_wav))
                    if frame is None:
                        break
                    await ws.send(frame)
                if receiver.done():
                    if receiver.exception() is not None:
                        raise receiver.exception()  # type: ignore[misc]
                    return False
                await ws.send(json.dumps({"type": "input.commit"}))
                await receiver
                return True
            finally:
                receiver.cancel()

    async def _settings_accepted(self, ws: Any) -> None:
        """Wait for the server's answer to our settings: a refused wake word ends the run, clearly."""
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout=30)
            if isinstance(message, bytes):
                continue
            event = json.loads(message)
            if event.get("type") == "session.updated":
                if self.args.wake_word:
                    log.info("listening for the wake word %s", self.args.wake_word)
                return
            if event.get("type") == "error":
                hint = (" (a server without wake words: use --wake-phrase instead)"
                        if self.args.wake_word else "")
                raise ValueError(f"the server refused these settings: {event.get('message')}{hint}")

    async def _receive(self, ws: Any, state: _ConnectionState) -> None:
        """Server events until the input is over and every turn is done and played."""
        async for message in ws:
            if isinstance(message, bytes):
                if state.current and state.current not in state.muted_turns:
                    self.playback.add(state.current, message)
                continue
            event = json.loads(message)
            kind = event.get("type")
            if kind == "speech.stopped" and not event.get("ignored"):
                state.utterances += 1
            elif kind == "transcript":
                if self.wake and not normalise(event["text"]).startswith(self.wake):
                    # Not addressed to us: stop the reply before it is spoken (see docs/deployment.md).
                    state.muted_turns.add(event["turn_id"])
                    await ws.send(json.dumps({"type": "reply.cancel"}))
            elif kind == "reply.audio.start":
                state.current = event["turn_id"]
            elif kind == "reply.stop":
                if event["turn_id"] not in state.muted_turns:  # a muted turn played nothing to stop
                    self.playback.stop()
                played = self.playback.played_ms(event["turn_id"])
                report = {"type": "playback", "turn_id": event["turn_id"], "played_ms": played}
                await ws.send(json.dumps(report))
            elif kind == "turn.done":
                state.done += 1
                self._log_turn(event, state)
            elif kind == "input.committed":
                state.committed = True
            elif kind == "wake.detected":
                log.info("wake word heard (%s, %.3f)", event.get("word"), event.get("probability", 0))
            elif kind == "wake.armed":
                log.info("listening for the wake word %s again", event.get("word"))
            elif kind == "error":
                log.warning("server error [%s]: %s", event.get("code"), event.get("message"))
            if state.committed and state.done >= state.utterances:
                break
        await self._drain()

    async def _drain(self) -> None:
        """Let the last reply finish playing."""
        await self.playback.wait_idle()

    def _log_turn(self, event: dict[str, Any], state: _ConnectionState) -> None:
        if event.get("status") == "ignored":
            return
        timings = event.get("timings") or {}
        ms = " ".join(f"{k.removesuffix('_ms')}={v}ms" for k, v in timings.items() if v is not None)
        addressed = "" if event["turn_id"] not in state.muted_turns else " (no wake phrase: not answered)"
        print(f"{event['turn_id']} {event['status']}{addressed} | you: {event.get('user_text', '')!r} | "
              f"assistant: {event.get('text', '')!r} | {ms}", flush=True)


class _ConnectionState:
    def __init__(self) -> None:
        self.current = ""
        self.utterances = 0
        self.done = 0
        self.committed = False
        self.muted_turns: set[str] = set()

    def busy(self, playback: Playback) -> bool:
        """A turn is being answered or its reply is still playing."""
        return self.done < self.utterances or playback.pending()


def add_assistant_parser(sub: Any) -> None:
    """The `assistant` subcommand's options."""
    p = sub.add_parser("assistant", help="hands-free assistant on this machine's microphone and speaker")
    p.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="server's /ws URL")
    p.add_argument("--token", default=os.environ.get("VOICECHAT_TOKEN"),
                   help="access token, if the server requires one (default: $VOICECHAT_TOKEN)")
    p.add_argument("--wake-word", default=None,
                   help="the server's wake word: hey_jarvis, okay_nabu, alexa or hey_mycroft; nothing said "
                   "without it is transcribed or answered")
    p.add_argument("--wake-phrase", default=None,
                   help='fallback for servers without wake words: cancel replies to utterances that do not '
                   'start with it ("hey computer"); they are still transcribed and stored')
    p.add_argument("--barge-in", action="store_true",
                   help="keep listening while a reply plays, so talking interrupts it (use headphones or "
                   "an echo-cancelling microphone)")
    p.add_argument("--language", default=None, help="spoken language (ISO code or auto)")
    p.add_argument("--voice", default=None, help="reply voice")
    p.add_argument("--device", default=None, help="sound device name or index (sounddevice)")
    p.add_argument("--input-wav", default=None, help="use this WAV file as the microphone")
    p.add_argument("--output-wav", default=None, help="write what would be played to this WAV file")
    p.add_argument("--fast", action="store_true", help="with files: no real-time pacing")
    p.add_argument("--max-retries", type=int, default=5, help="with --input-wav: give up after this many")


def run_assistant(args: argparse.Namespace) -> int:
    """`voicechat assistant` entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(Assistant(args).run())
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError, EOFError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
