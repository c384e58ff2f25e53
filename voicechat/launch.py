"""What `voicechat serve` settles before it listens: the access token (generated like Jupyter's when a
non-loopback address has none), the TLS certificate, and the page's address printed once listening."""

from __future__ import annotations

import ipaddress
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from .paths import TOKEN_FILE, generated_token
from .security import ConfigError, is_loopback, parse_tokens
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launch:
    """Settings as the server will run with them, and what to tell the person who started it."""

    settings: Settings
    home: Path
    page_token: str | None = None  # generated here: printed in the page URL (tokens set by hand are not)
    cert: Path | None = None
    key: Path | None = None
    fingerprint: str | None = None


def prepare_launch(settings: Settings, home: Path) -> Launch:
    """Token and certificate for `settings`, made or loaded from `home` when needed."""
    page_token = None
    exposed = not is_loopback(settings.host) and not settings.allow_unauthenticated
    if exposed and not parse_tokens(settings.tokens.get_secret_value()):
        # Not an open API on the network, yet no token to invent: make one once and keep it, like Jupyter.
        page_token, made = generated_token(home)
        settings = settings.model_copy(update={"tokens": SecretStr(page_token)})
        log.warning("no VOICECHAT_TOKENS set: %s the access token kept in %s (the page URL below carries "
                    "it; /ws, /v1 and /api need it)", "made" if made else "using", home / TOKEN_FILE)
    cert = key = None
    if settings.tls_cert or settings.tls_key:
        if not (settings.tls_cert and settings.tls_key):
            raise ConfigError("HTTPS needs both VOICECHAT_TLS_CERT and VOICECHAT_TLS_KEY "
                              "(--tls-cert, --tls-key)")
        cert, key = settings.tls_cert.expanduser(), settings.tls_key.expanduser()
        for path in (cert, key):
            if not path.is_file():
                raise ConfigError(f"TLS file not found: {path}")
    elif settings.tls_self_signed:
        from .tls import self_signed

        cert, key, made = self_signed(home)
        if made:
            log.warning("made a self-signed TLS certificate for this machine: %s", cert)
    fingerprint = None
    if cert is not None:
        from .tls import fingerprint as sha256_fingerprint

        fingerprint = sha256_fingerprint(cert)
        log.warning("HTTPS with %s; its SHA-256 fingerprint (compare it in the browser's warning): %s",
                    cert, fingerprint)
    return Launch(settings, home, page_token, cert, key, fingerprint)


def page_urls(launch: Launch, port: int) -> list[str]:
    """Where the page can be opened: each address a browser can reach when bound to all of them."""
    scheme = "https" if launch.cert else "http"
    host = launch.settings.host
    if host in ("0.0.0.0", "::", ""):
        from .tls import local_names

        _, addresses = local_names()
        lan = [a for a in addresses if not ipaddress.ip_address(a).is_loopback
               and (host == "::" or ipaddress.ip_address(a).version == 4)]
        hosts = ["127.0.0.1", *lan]
    else:
        hosts = [host]
    query = f"?token={launch.page_token}" if launch.page_token else ""
    return [f"{scheme}://{f'[{h}]' if ':' in h else h}:{port}/{query}" for h in hosts]


def print_page_urls(launch: Launch, port: int) -> None:
    """Print the page's addresses on stderr. Not through logging: the log filter scrubs `token=` from
    every record, and this one line is meant to carry the generated token to the person who started it."""
    urls = page_urls(launch, port)
    print("voicechat: open the page at\n" + "\n".join(f"    {url}" for url in urls), file=sys.stderr,
          flush=True)
