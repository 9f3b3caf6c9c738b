"""Which URLs and network addresses the fetcher may touch.

A crawler fed URLs from the open web is an SSRF tool unless it refuses to connect to the
machine it runs on and the networks behind it: ``http://169.254.169.254/`` is the cloud
metadata service, ``http://10.0.0.1/`` an internal router. Attackers write such addresses
in forms a naive string check misses (``http://2130706433/``, ``http://0x7f.1/``,
``http://[::ffff:127.0.0.1]/``), so hosts are parsed the way browsers parse them (the
WHATWG URL standard) and every address, including IPv4 embedded in IPv6, is judged
by what it is, not by how it is written.

This module only decides; ``resolver.py`` applies the decision to every address that
DNS returns, and the fetcher applies it again to each redirect hop.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Union

import yarl

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 8192
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# Forbidden anywhere in a URL: control characters (header injection, parser confusion)
# and the backslash that browsers read as a slash but yarl does not. Spaces are fine:
# pages write them in image paths and yarl percent-encodes them.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class UnsafeURL(ValueError):
    """A URL the fetcher will not request; ``reason`` is the Stats reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` as an IPv4 address the way browsers and ``inet_aton`` do.

    Accepts 1 to 4 dot-separated parts in decimal, octal (leading 0) or hex (0x), the
    last part filling the remaining bytes: ``127.1``, ``2130706433``, ``0x7f.0.0.1`` and
    ``0177.0.0.1`` all mean 127.0.0.1. Returns None for a host that is a name. Raises
    UnsafeURL for a host that ends in a number but is no valid address (``1.2.3.999``),
    since WHATWG makes such URLs invalid rather than names.
    """
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not _is_number(parts[-1]):
        return None
    if len(parts) > 4:
        raise UnsafeURL("bad_url", f"not an IPv4 address: {host!r}")
    try:
        numbers = [_number(part) for part in parts]
    except ValueError:
        raise UnsafeURL("bad_url", f"not an IPv4 address: {host!r}") from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UnsafeURL("bad_url", f"IPv4 part out of range: {host!r}")
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _is_number(part: str) -> bool:
    lower = part.lower()
    if lower.startswith("0x"):
        return all(c in "0123456789abcdef" for c in lower[2:])
    return part.isdigit()


def _number(part: str) -> int:
    lower = part.lower()
    if lower.startswith("0x"):
        return int(lower[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, IPv4-compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64) or int(address) >> 32 == 0:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet, False for anything local or special.

    ``is_global`` alone misses multicast and, for IPv6, the IPv4 a mapped or tunnelled
    address carries, so both are checked.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        inner = embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
        if address.teredo is not None and not is_public(address.teredo[1]):
            return False
    return not (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


@dataclass(frozen=True)
class _Allowed:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None


@dataclass(frozen=True)
class AddressPolicy:
    """Decides which (address, port) pairs the fetcher may connect to.

    ``allow_private`` lets everything through (a crawl of your own intranet, tests).
    ``allowed`` lists exceptions to the public-only rule, each a network in CIDR form
    with an optional port: ``"10.1.0.0/16"``, ``"127.0.0.1:8080"``, ``"[fd00::/8]:443"``
    (an internal mirror, a local test server). Parse them with ``from_strings``.
    """

    allow_private: bool = False
    allowed: tuple[_Allowed, ...] = ()

    @classmethod
    def from_strings(cls, allow_private: bool, allowed: Iterable[str]) -> "AddressPolicy":
        return cls(allow_private, tuple(_parse_allowed(entry) for entry in allowed))

    def permits(self, address: IPAddress, port: int) -> bool:
        if self.allow_private or is_public(address):
            return True
        return any(
            address in rule.network and (rule.port is None or rule.port == port) for rule in self.allowed
        )


def _parse_allowed(entry: str) -> _Allowed:
    """Read ``net``, ``net:port`` or ``[v6net]:port``; a bad entry is a config error."""
    text = entry.strip()
    port: int | None = None
    if text.startswith("["):
        network, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif text.count(":") == 1:
        network, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        network = text
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port out of range in allowed network {entry!r}")
    return _Allowed(ipaddress.ip_network(network, strict=False), port)


def check_url(url: str) -> yarl.URL:
    """Parse a URL for fetching, or raise UnsafeURL with reason bad_url / bad_scheme.

    The result is percent-encoded, has an ASCII (IDNA) lower-case host and, for IPv4
    literals in any legacy form, the canonical dotted address, so later address checks
    and aiohttp see the same host a browser would connect to. Credentials are refused:
    a URL from a web page has no business sending a password anywhere.
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise UnsafeURL("bad_url", "URL is not a string or too long")
    if _FORBIDDEN.search(url.strip()):
        raise UnsafeURL("bad_url", "URL contains whitespace, control characters or backslashes")
    try:
        parsed = yarl.URL(url.strip())
        scheme = parsed.scheme.lower()
        if not scheme:
            raise UnsafeURL("bad_url", "URL is not absolute")
        if scheme not in SCHEMES:
            raise UnsafeURL("bad_scheme", f"scheme {scheme!r} is not http(s)")
        if parsed.raw_user is not None or parsed.raw_password is not None:
            raise UnsafeURL("bad_url", "URL carries credentials")
        port = parsed.port
        host = _canonical_host(parsed.raw_host or "")
        if port is None or not 0 < port < 65536:
            raise UnsafeURL("bad_url", "invalid port")
        return yarl.URL.build(
            scheme=scheme,
            host=f"[{host}]" if ":" in host else host,
            port=parsed.explicit_port,
            path=parsed.raw_path or "/",
            query_string=parsed.raw_query_string,
            encoded=True,
        )
    except UnsafeURL:
        raise
    except (ValueError, UnicodeError, TypeError) as error:
        raise UnsafeURL("bad_url", f"malformed URL: {error}") from None


def _canonical_host(raw_host: str) -> str:
    """Lower-case ASCII host; IPv4 in canonical form; IPv6 validated (kept unbracketed)."""
    host = raw_host.lower().rstrip(".") if raw_host not in ("", ".") else ""
    if not host:
        raise UnsafeURL("bad_url", "URL has no host")
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURL("bad_url", f"bad IPv6 address {host!r}") from None
        if address.scope_id:
            raise UnsafeURL("bad_url", "IPv6 zone identifiers are not allowed")
        return str(address)
    ipv4 = parse_ipv4(host)
    if ipv4 is not None:
        return str(ipv4)
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in host.split(".")):
        raise UnsafeURL("bad_url", f"invalid host name {host!r}")
    if "xn--" in host:
        host.encode("ascii").decode("idna")  # a broken punycode label raises UnicodeError
    return host


def ip_literal(host: str) -> IPAddress | None:
    """The address a canonical host stands for, or None if it is a name to resolve."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
