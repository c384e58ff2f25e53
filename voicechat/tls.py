"""HTTPS for the page on a home network: browsers grant the microphone only to a secure page, so a phone on
the LAN needs `https://`. Either the operator's own certificate (`--tls-cert`/`--tls-key`) or a
self-signed one made once for this machine's names and addresses, kept in the data folder, and
identified by its SHA-256 fingerprint (what the browser's warning page shows)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

SELF_SIGNED_CERT = Path("data/tls/self-signed.crt")
SELF_SIGNED_KEY = Path("data/tls/self-signed.key")


def local_names() -> tuple[list[str], list[str]]:
    """This machine's DNS names and IP addresses (loopback included), for a certificate's alt names."""
    names = {"localhost"}
    addresses = {"127.0.0.1", "::1"}
    hostname = socket.gethostname()
    for name in (hostname, socket.getfqdn(), f"{hostname.split('.')[0]}.local"):
        if name:
            names.add(name)
    addresses.update(_interface_addresses())
    try:
        for info in socket.getaddrinfo(hostname, None):
            addresses.add(str(info[4][0]).split("%")[0])
    except OSError:
        pass  # a hostname that does not resolve: the interfaces still give the addresses
    return sorted(names), sorted(addresses)


def _interface_addresses() -> set[str]:
    """The addresses of this machine's interfaces, read from the kernel (no packet is sent)."""
    found: set[str] = set()
    try:  # IPv4: one ioctl per interface
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                try:
                    packed = fcntl.ioctl(probe.fileno(), 0x8915,  # SIOCGIFADDR
                                         struct.pack("256s", name.encode()[:15]))
                except OSError:
                    continue  # an interface with no IPv4 address
                found.add(socket.inet_ntoa(packed[20:24]))
    except (ImportError, OSError, AttributeError):
        pass
    try:  # IPv6: the kernel's table, global and link-local alike
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            address = ipaddress.IPv6Address(int(raw, 16))
            if not address.is_link_local:  # a link-local address needs a zone id no URL carries
                found.add(str(address))
    except (OSError, ValueError, IndexError):
        pass
    return found


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate (DER), as browsers show it: `AB:CD:…`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def spki_sha256_base64(cert_path: Path) -> str:
    """Base64 SHA-256 of the certificate's public key: what Chromium's
    `--ignore-certificate-errors-spki-list` takes to trust exactly this certificate."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def self_signed(home: Path) -> tuple[Path, Path, bool]:
    """The self-signed certificate and key kept in `home/data/tls/`, made on first use for this
    machine's names and addresses. Returns (cert, key, made_now)."""
    cert_path, key_path = home / SELF_SIGNED_CERT, home / SELF_SIGNED_KEY
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path, False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names, addresses = local_names()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"voicechat on {socket.gethostname()}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        # Browsers cap a server certificate's lifetime; 397 days is the longest they all accept.
        .not_valid_after(now + datetime.timedelta(days=397))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key: its owner only
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path, True
