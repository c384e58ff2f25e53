"""Opt-in zeroconf (mDNS) advertisement of the Wyoming door, so Home Assistant discovers it by itself.

Home Assistant's Wyoming integration browses `_wyoming._tcp.local.`; what it finds it offers to add, then
connects and sends `describe`. We announce the address the door is bound to: a wildcard bind (0.0.0.0) is
announced as this machine's address on its default route, a loopback bind as itself (only this machine
can connect: the log says so).
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"


def advertised_address(host: str) -> str:
    """The IPv4 address to announce for a door bound to `host`."""
    if host in ("", "0.0.0.0", "::"):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect((_MDNS_GROUP, 5353))  # no packet is sent: this only picks the outgoing interface
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
        finally:
            probe.close()
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return socket.gethostbyname(host)


class ZeroconfAdvert:
    """`name._wyoming._tcp.local.` pointing at `address:port`, until `stop`."""

    def __init__(self, name: str, address: str, port: int) -> None:
        self.name, self.address, self.port = name, address, port
        self.info = AsyncServiceInfo(
            SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", port=port,
            addresses=[socket.inet_aton(address)], server=f"{socket.gethostname()}.local.",
            properties={"software": "voicechat"},
        )
        self._zeroconf: AsyncZeroconf | None = None

    async def start(self) -> None:
        loopback = ipaddress.IPv4Address(self.address).is_loopback
        self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
        # The call returns the announcement as a task; awaiting it too means we are findable on return.
        await (await self._zeroconf.async_register_service(self.info, allow_name_change=True))
        log.info("wyoming: announced as %r (%s) at %s:%d%s", self.name, SERVICE_TYPE, self.address, self.port,
                 "; only this machine can connect to a loopback address: bind tcp://0.0.0.0:PORT with "
                 "VOICECHAT_WYOMING_ALLOW_REMOTE=true for Home Assistant elsewhere" if loopback else "")

    async def stop(self) -> None:
        if self._zeroconf is not None:
            zeroconf, self._zeroconf = self._zeroconf, None
            await (await zeroconf.async_unregister_service(self.info))  # the goodbye, sent before closing
            await zeroconf.async_close()
