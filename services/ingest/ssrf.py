"""Server-side request forgery guard for URL imports.

An import makes the service fetch a URL a client chose, from inside our network. So: only http(s); the host is
resolved here and *every* address it resolves to must be public (one private answer is enough to refuse, since we
cannot know which one a later connection would use); and the connection then goes to the address we checked (the
URL is pinned to it, with the original Host header and TLS server name), so a second DNS answer cannot swap in an
internal address (DNS rebinding). Each redirect is checked the same way (see `services.ingest.fetch`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = ("http", "https")


class BadImportUrl(ValueError):
    """The URL itself is unusable (scheme, host, port, unresolvable)."""


class ImportRefused(PermissionError):
    """The URL points at an address imports may not reach."""


def refusal(address: IPAddress) -> str | None:
    """Why an address may not be fetched, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return refusal(embedded)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def parse_url(url: str) -> httpx.URL:
    """An absolute http(s) URL with a host, or BadImportUrl."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BadImportUrl(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in SCHEMES:
        raise BadImportUrl(f"only http and https URLs can be imported, not {parsed.scheme or 'a relative URL'!r}")
    if not parsed.host:
        raise BadImportUrl("the URL has no host")
    return parsed


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: httpx.URL
    address: IPAddress

    @property
    def pinned_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address (the Host header keeps the name)."""
        return self.url.copy_with(host=str(self.address))

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[self.url.scheme]
        port = self.url.port
        host = self.url.host if ":" not in self.url.host else f"[{self.url.host}]"
        return host if port in (None, default) else f"{host}:{port}"

    @property
    def extensions(self) -> dict[str, str]:
        # TLS must still name (and verify) the host, not the address we pinned to.
        return {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an address literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadImportUrl(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not addresses:
        raise BadImportUrl(f"host {host!r} has no address")
    return sorted(addresses, key=lambda a: (a.version, int(a)))


async def vet(url: str | httpx.URL, *, allow_private: bool) -> Target:
    """Check a URL and every address of its host; the Target to connect to, or an exception saying why not."""
    parsed = parse_url(str(url))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve(parsed.host, port)
    if not allow_private:
        for address in addresses:
            if (why := refusal(address)) is not None:
                raise ImportRefused(
                    f"refusing to import from {parsed.host}: it resolves to {address}, a {why} address "
                    "(imports from internal addresses are off; see INGEST_ALLOW_PRIVATE_IMPORTS)"
                )
    return Target(parsed, addresses[0])
