"""The conversation state machine every door drives.

A session consumes audio and control events and emits typed events (voicechat/events.py) and reply audio
(PCM16 bytes) through the door's one `output` callable, as JSON-ready dicts and bytes. Turns run one at a
time in a worker task: utterance -> transcript -> chat stream -> sentences -> speech. Speech onset during a
reply (barge-in) or a client cancel stops the reply at once; the history keeps only what the client says it
actually played.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import client_events as ce
from . import events
from .audio import duration_ms, resample_pcm16
from .engines import Engines
from .history import History
from .listening import ListeningChain
from .media.bridge import MediaBridge
from .media.routes import ActionRoute
from .media.service import MediaService
from .protocol import SessionConfig, SessionUpdate, describe_validation_error
from .settings import Settings
from .store import ConversationStore, StoreError, StoreUnavailable
from .turn import Turn
from .turn_input import TurnInput
from .wake import check_wake_word

log = logging.getLogger(__name__)

Output = Callable[[dict[str, Any] | bytes], Awaitable[None]]  # the door's: JSON-ready events and audio


class SessionError(Exception):
    """A client mistake the session reports as a typed, recoverable `error` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def event(self) -> events.Error:
        return events.Error(self.code, self.message)


@dataclass
class _Audible:
    """The last reply the client may still be playing."""

    turn: Turn
    deadline: float  # monotonic time its audio would end if played from the first chunk


@dataclass(eq=False)
class Session:
    """One conversation. Doors call `start`, `feed_audio`, `handle`, `close`."""

    engines: Engines
    settings: Settings
    output: Output
    media: MediaService | None = None
    store: ConversationStore | None = None
    door: str = "native"
    owner: str = "local"  # the user this session speaks for; media jobs are shared per user
    uploads_dir: Path | None = None
    id: str = field(default_factory=lambda: "sess_" + uuid.uuid4().hex[:12])
    resumed: bool = False  # it continues a stored conversation (voicechat/resume.py)

    def __post_init__(self) -> None:
        self.send = self.engines.metrics.watching(self.send)  # turn and error events feed /metrics
        s = self.settings
        self.config = SessionConfig.defaults(s)
        self.history: History[Turn] = History(max_chars=s.history_max_chars)
        self._turn_numbers = itertools.count(1)
        self._queue: asyncio.Queue[TurnInput] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._current: Turn | None = None
        self._audible: _Audible | None = None
        self._closed = False
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.stop_requested = asyncio.Event()  # the server is shutting down: the door should close
        self.closed = asyncio.Event()  # set by the door once the connection is closed
        self._storage_warned = False
        self._storage_warned_turn: str | None = None
        self.last_queued: TurnInput | None = None  # the newest input queued (doors map item ids onto it)
        self.media_bridge: MediaBridge | None = None
        self.jobs_to_follow: list[str] = []  # a resumed conversation's media jobs: their ending is said here
        self.listening = ListeningChain(self)

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.store is not None:
            try:
                await self.store.open_conversation(self.id, self.owner, self.door)
            except StoreError as exc:
                await self.storage_failed(exc)
        self._worker = asyncio.create_task(self._run_turns(), name=f"{self.id}-turns")
        if self.media is not None:
            self.media_bridge = MediaBridge(self.media, self.owner, self.output, self._notify,
                                            self.uploads_dir)
            if self.jobs_to_follow:  # after the bridge subscribed: no job's ending falls in between
                await self.media_bridge.follow(self.jobs_to_follow)

    async def storage_failed(self, exc: StoreError, turn_id: str | None = None) -> None:
        """The conversation could not be saved (disk full…): say so once, keep talking."""
        log.error("session %s: %s", self.id, exc)
        if isinstance(exc, StoreUnavailable):  # an outage: said on each turn it touches, since it ends
            if turn_id is not None and turn_id != self._storage_warned_turn:
                self._storage_warned_turn = turn_id
                await self.send(events.Error("storage_unavailable", str(exc), turn_id=turn_id))
            return
        if not self._storage_warned:
            self._storage_warned = True
            await self.send(events.Error("storage_failed",
                                         "this conversation could not be saved; it continues unsaved"))

    def continue_turn_numbers(self, last: int) -> None:
        """A resumed conversation: new turns are numbered after its stored ones (never overwrite them)."""
        self._turn_numbers = itertools.count(last + 1)

    def hotwords(self) -> str:
        """Vocabulary for whisper: the configured words, plus media follow-ups once they make sense."""
        words = [self.settings.stt_hotwords]
        if self.media_bridge is not None:
            words.append(self.media_bridge.vocabulary())
        return " ".join(w for w in words if w)

    def _notify(self, line: str, say_if: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Say something unprompted (a media job finished), after any turn in progress; `say_if` decides
        as the turn would start (voicechat/media/bridge.py: said once across connections)."""
        if not self._closed:
            self.enqueue(TurnInput(notice=line, ended_at=time.monotonic(), say_if=say_if))

    async def close(self) -> None:
        self._closed = True
        self.listening.close()
        if self.media_bridge is not None:
            await self.media_bridge.close()
        if self._current is not None:
            self._current.cancel("closed")
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass

    def enqueue(self, item: TurnInput) -> None:
        """Queue a turn's input behind the running one (nothing new once draining)."""
        if self._draining:
            self.last_queued = None
            return  # shutting down: nothing new starts
        self._idle.clear()
        self.last_queued = item
        self._queue.put_nowait(item)

    async def drain(self, timeout: float) -> bool:
        """Let the running and queued turns finish (at most `timeout` s), start nothing new.

        Returns True when the session went idle in time. The door then closes the connection.
        """
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.stop_requested.set()

    async def until_idle(self) -> None:
        """Wait until no turn is running or queued."""
        await self._idle.wait()

    @property
    def busy(self) -> bool:
        """A turn is running or queued."""
        return self._current is not None or not self._queue.empty()

    # --- audio in: the listening chain (listening.py) -------------------------------------------

    async def feed_audio(self, pcm: bytes, arrived: float | None = None) -> None:
        """Client audio: PCM16LE mono at the session's input rate."""
        if len(pcm) % 2:
            message = f"audio frames must hold whole 16-bit samples; got {len(pcm)} bytes"
            raise SessionError("bad_audio", message)
        await self.listening.feed(pcm, time.monotonic() if arrived is None else arrived)

    @property
    def audible_until(self) -> float:
        """Monotonic time the last reply ends on the client if played in full (0: nothing playing)."""
        return self._audible.deadline if self._audible is not None else 0.0

    @property
    def draining(self) -> bool:
        """The server is shutting down: no new turn starts."""
        return self._draining

    def running(self, item: TurnInput) -> Turn | None:
        """The turn started from `item`, if it is the one running now."""
        turn = self._current
        return turn if turn is not None and turn.item is item else None

    # --- control events ---------------------------------------------------------------------------

    async def handle(self, event: dict[str, Any] | ce.ClientEvent) -> None:
        """A client's control event: a parsed JSON object (checked here) or an event a door built."""
        try:
            if isinstance(event, dict):
                event = ce.NATIVE.parse(event)
            await ce.NATIVE.handlers[type(event)](self, event)
        except ce.EventError as exc:
            raise SessionError(exc.code, exc.message) from None

    @ce.NATIVE.handles(ce.SessionUpdate)
    async def _on_update(self, event: ce.SessionUpdate) -> None:
        try:
            update = SessionUpdate.model_validate({} if event.session is None else event.session)
        except ValidationError as exc:
            raise SessionError("invalid_session", describe_validation_error(exc)) from exc
        try:
            if update.voice:  # a voice no engine has is refused, never silently unused
                self.engines.tts.check_voice(update.voice)
            check_wake_word(update.wake_word, self.engines.wake)
            rebuild = self.config.apply(update, self.settings)
        except ValueError as exc:
            raise SessionError("invalid_session", str(exc)) from exc
        if rebuild:
            await self.listening.reconfigure()
        await self.send(events.SessionUpdated(self.config.public()))

    @ce.NATIVE.handles(ce.InputCommit)
    async def _on_commit(self, event: ce.InputCommit) -> None:
        # speech.stopped first: a client counting utterances knows them all once `committed` arrives.
        speech = await self.listening.commit()
        await self.send(events.InputCommitted(bool(speech)))

    @ce.NATIVE.handles(ce.InputClear)
    async def _on_clear(self, event: ce.InputClear) -> None:
        await self.listening.drop()
        await self.send(events.InputCleared())

    @ce.NATIVE.handles(ce.ReplyCancel)
    async def _on_cancel(self, event: ce.ReplyCancel) -> None:
        await self.interrupt("cancel")

    @ce.NATIVE.handles(ce.Text)
    async def _on_text(self, event: ce.Text) -> None:
        if len(event.text) > self.settings.max_text_chars:
            limit = self.settings.max_text_chars
            raise SessionError("text_too_long", f"text is limited to {limit} characters")
        self.enqueue(TurnInput(text=event.text.strip(), ended_at=time.monotonic()))

    @ce.NATIVE.handles(ce.Playback)
    async def _on_playback(self, event: ce.Playback) -> None:
        turn = self.find_turn(event.turn_id)
        if turn is None:
            return
        played = float(event.played_ms)
        turn.report_played(played)
        if turn.finished:
            await turn.persist_heard()
        if self._audible and self._audible.turn is turn and (event.done or played >= turn.audio_ms):
            self._audible = None

    @ce.NATIVE.handles(ce.ConversationGet)
    async def _on_history(self, event: ce.ConversationGet) -> None:
        await self.send(events.Conversation(self.history.messages()))

    @ce.NATIVE.handles(ce.MediaAction)
    async def _on_media_action(self, event: ce.MediaAction) -> None:
        if self.media_bridge is None:
            raise SessionError("media_unavailable", "media generation is not enabled on this server")
        pressed = ActionRoute(event.job_id, event.action, event.index)
        self.enqueue(TurnInput(action=pressed, ended_at=time.monotonic()))

    @ce.NATIVE.handles(ce.MediaAttach)
    async def _on_media_attach(self, event: ce.MediaAttach) -> None:
        if self.media_bridge is None:
            raise SessionError("media_unavailable", "media generation is not enabled on this server")
        try:
            count = self.media_bridge.attach(event.upload_ids)
        except ValueError as exc:
            raise SessionError("invalid_event", str(exc)) from exc
        await self.send(events.MediaAttached(count))

    @ce.NATIVE.handles(ce.Ping)
    async def _on_ping(self, event: ce.Ping) -> None:
        await self.send(events.Pong(event.id))

    def find_turn(self, turn_id: Any) -> Turn | None:
        """The running, still audible, or remembered turn with this id (the newest when None)."""
        for candidate in (self._current, self._audible.turn if self._audible else None):
            if candidate is not None and (turn_id is None or candidate.id == turn_id):
                return candidate
        return self.history.turn(turn_id) if isinstance(turn_id, str) else None

    # --- calls for doors whose protocol manages the conversation itself (OpenAI Realtime) ---------

    def add_text(self, text: str, respond: bool) -> TurnInput:
        """A typed user message; with `respond` False it only joins the conversation.

        Returns the queued input: setting its `dropped` withdraws it until its transcript is out.
        """
        item = TurnInput(text=text, ended_at=time.monotonic(), respond=respond)
        self.enqueue(item)
        return item

    def respond(self, instructions: str | None = None) -> None:
        """Answer the conversation as it stands."""
        self.enqueue(TurnInput(reply_only=True, instructions=instructions, ended_at=time.monotonic()))

    # --- barge-in / cancel ------------------------------------------------------------------------

    async def interrupt(self, reason: str) -> None:
        """Stop the reply being produced or played, and tell the client to stop playback now."""
        now = time.monotonic()
        turn = self._current
        if turn is not None and not turn.finished:
            turn.cancel(reason)
            await self.send(events.ReplyStop(turn.id, reason))
            self._audible = None
            return
        audible = self._audible
        if audible is not None and now < audible.deadline:
            self._audible = None
            audible.turn.stopped_while_playing(reason, now)
            await self.send(events.ReplyStop(audible.turn.id, reason))

    # --- turns ------------------------------------------------------------------------------------

    async def _run_turns(self) -> None:
        while not self._closed:
            if self._queue.empty():
                self._idle.set()
            item = await self._queue.get()
            if item.dropped or (item.say_if is not None and not await item.say_if()):
                continue
            turn = Turn(
                id=f"turn_{next(self._turn_numbers)}",
                session=self,
                item=item,
            )
            self._current = turn
            try:
                await turn.run()
            except Exception:  # only sending can fail here: the client is gone
                log.debug("session %s: %s ended without its client", self.id, turn.id)
            finally:
                self._current = None
            if turn.first_audio_at is not None and turn.status == "completed":
                self._audible = _Audible(turn, turn.first_audio_at + turn.audio_ms / 1000)

    # What turns use besides the fields (TurnContext): all output goes through one place.

    async def send(self, event: events.ServerEvent) -> None:
        await self.output(event.to_dict())

    async def send_audio(self, pcm: bytes, rate: int) -> float:
        out_rate = self.config.output_rate
        pcm = resample_pcm16(pcm, rate, out_rate)
        frame = out_rate // 5 * 2  # 200 ms frames: small enough to start playback, few enough to be cheap
        sent = 0.0
        for offset in range(0, len(pcm), frame):
            part = pcm[offset : offset + frame]
            await self.output(part)
            sent += duration_ms(len(part), out_rate)
        return sent
