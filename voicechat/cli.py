"""Command line: `voicechat` / `voicechat serve` runs the server, `voicechat say FILE.wav` talks to one,
`voicechat assistant` is a hands-free assistant on this machine's microphone and speaker, `voicechat prepare`
assembles the bundled models ahead of time. `python -m voicechat` is the same command."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .launch import Launch, prepare_launch, print_page_urls


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .media.config import MediaSettings
    from .paths import enter_home
    from .security import ConfigError, check_exposure
    from .settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("wyoming_uri", args.wyoming),
                                   ("tls_cert", args.tls_cert), ("tls_key", args.tls_key))
                 if v is not None}
    if args.tls == "self-signed":
        overrides["tls_self_signed"] = True
    settings = Settings(**overrides)
    # Read `.env` from the folder the server was started in, before moving to its home folder.
    media_settings = MediaSettings(voicechat_media_gateway=settings.media_gateway)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from .bundles import ModelFileError
    from .models import check_bundled

    try:
        launch = prepare_launch(settings, enter_home(settings.home))
        check_exposure(launch.settings)
        if launch.settings.wyoming_uri:
            from .doors.wyoming import check_uri

            check_uri(launch.settings)
        # A missing or altered model file is one clear line, before anything starts (in the home folder,
        # where a relative models folder lives).
        check_bundled(launch.settings)
    except (ConfigError, ModelFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = launch.settings
    # The app builds the media service: on the shared database's job store when there is one.
    app = create_app(settings, media_settings=media_settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Messages above our own limit get a typed error from the door; only absurd ones are cut here.
        ws_max_size=max(settings.max_message_bytes * 4, 1 << 20),
        ws_ping_interval=20,
        ws_ping_timeout=20,
        timeout_graceful_shutdown=settings.shutdown_grace_s + 5,
        ssl_certfile=str(launch.cert) if launch.cert else None,
        ssl_keyfile=str(launch.key) if launch.key else None,
    )
    graceful_server(config, app, settings.shutdown_grace_s, launch).run()
    return 0


def _prepare(args: argparse.Namespace) -> int:
    """Assemble and load every model the settings select, then exit: an image built with this starts fast."""
    from .engines import load_engines
    from .paths import enter_home
    from .settings import Settings

    settings = Settings()
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    from .models import check_bundled

    home = enter_home(settings.home)
    check_bundled(settings)  # assembled and verified against the pinned hashes
    load_engines(settings)  # and loaded once: the runtime libraries are there
    print(f"voicechat: models ready in {(home / settings.models_dir).resolve()}", file=sys.stderr)
    return 0


def _health(args: argparse.Namespace) -> int:
    """Exit 0 when this machine's server answers `/health` with 200 (the Docker image's HEALTHCHECK)."""
    import ssl
    import urllib.request

    from .settings import Settings

    settings = Settings()
    scheme = "https" if settings.tls_cert or settings.tls_self_signed else "http"
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(settings.host, settings.host)
    url = f"{scheme}://{host}:{args.port or settings.port}/health"
    context = ssl.create_default_context()
    context.check_hostname = False  # the server's own certificate, probed over loopback: liveness only
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as answer:  # noqa: S310
            return 0 if answer.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


def graceful_server(config: Any, app: Any, grace_s: float, launch: Launch | None = None) -> Any:
    """A uvicorn server whose shutdown first stops listening, then lets sessions finish their turns; once
    listening, it prints where to open the page (with the generated token, if one was made)."""
    import uvicorn

    from .app import drain_sessions

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
            await super().startup(sockets)
            if launch is not None and self.started:
                ports = [s.getsockname()[1] for server in self.servers for s in server.sockets]
                print_page_urls(launch, ports[0] if ports else config.port)

        async def shutdown(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
            for server in self.servers:
                server.close()  # no new connections while the old ones finish
            await drain_sessions(app, grace_s)
            await super().shutdown(sockets)

    return _Server(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicechat", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (the default)")
    for p in (parser, serve):
        p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help="port to bind (default 8000; 0 = any free)")
        p.add_argument("--wyoming", default=None, metavar="URI",
                       help="also serve Wyoming (Home Assistant), e.g. tcp://127.0.0.1:10300")
        p.add_argument("--tls", choices=["self-signed"], default=None,
                       help="serve HTTPS with a self-signed certificate made once for this machine")
        p.add_argument("--tls-cert", default=None, metavar="PEM", help="serve HTTPS with this certificate")
        p.add_argument("--tls-key", default=None, metavar="PEM", help="the private key of --tls-cert")
    say = sub.add_parser("say", help="stream a WAV file to a server and collect the spoken replies")
    say.add_argument("file", help="16-bit PCM WAV, any rate, mono or stereo")
    say.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="server's /ws URL")
    say.add_argument("--out", help="write the reply audio to this WAV file")
    say.add_argument("--json", action="store_true", help="print one JSON object per server event")
    say.add_argument("--fast", action="store_true", help="send as fast as possible, not at real-time pace")
    say.add_argument("--barge-in", action="store_true", help="let speech interrupt replies still playing")
    say.add_argument("--language", help="spoken language (ISO code or auto)")
    say.add_argument("--voice", help="reply voice")
    say.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the turns to end")
    sub.add_parser("prepare", help="assemble and load the bundled models, then exit (image builds)")
    health = sub.add_parser("health", help="exit 0 if the server on this machine answers /health")
    health.add_argument("--port", type=int, default=None, help="port (default: VOICECHAT_PORT or 8000)")
    health.add_argument("--timeout", type=float, default=4.0, help="seconds to wait for the answer")
    from .clients.assistant import add_assistant_parser

    add_assistant_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `voicechat` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "say":
        from .clients.say import run_say

        return run_say(args)
    if args.command == "assistant":
        from .clients.assistant import run_assistant

        return run_assistant(args)
    if args.command == "prepare":
        return _prepare(args)
    if args.command == "health":
        return _health(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
