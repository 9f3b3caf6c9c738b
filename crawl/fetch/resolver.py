"""DNS resolution that only ever hands aiohttp addresses the policy permits.

Checking a host name's addresses before the request and letting aiohttp resolve it again
to connect leaves a window: a hostile DNS server answers a public address to the check
and 127.0.0.1 to the connect ("DNS rebinding"). Here the check and the connect use the
same answer: aiohttp's connector asks this resolver, which returns only the permitted
addresses of its cached answer, so the socket can only ever be opened to an address
that passed the policy. (aiohttp does not ask a resolver for IP literals; the fetcher
checks those itself, after ``address.check_url`` has put them in canonical form.)

Answers are cached per host for ``ttl`` seconds, failures included, and concurrent
lookups of one host share a single ``getaddrinfo`` call.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

from aiohttp.abc import AbstractResolver, ResolveResult

from .address import AddressPolicy, IPAddress


class RefusedAddress(OSError):
    """Every address of a host is one the policy refuses."""


class SafeResolver(AbstractResolver):
    def __init__(self, policy: AddressPolicy, ttl: float = 300.0, capacity: int = 100_000) -> None:
        self.policy = policy
        self.ttl = ttl
        self.capacity = capacity
        self._cache: dict[str, tuple[float, asyncio.Future[list[IPAddress]]]] = {}

    async def addresses(self, host: str) -> list[IPAddress]:
        """All addresses of ``host`` (cached); raises OSError when it does not resolve."""
        now = time.monotonic()
        entry = self._cache.get(host)
        if entry is None or entry[0] < now:
            if len(self._cache) >= self.capacity:
                self._cache = {h: e for h, e in self._cache.items() if e[0] >= now}
                if len(self._cache) >= self.capacity:
                    self._cache.clear()
            entry = (now + self.ttl, asyncio.ensure_future(self._lookup(host)))
            self._cache[host] = entry
        return await asyncio.shield(entry[1])

    async def permitted(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host`` we may connect to; RefusedAddress if there are none."""
        allowed = [ip for ip in await self.addresses(host) if self.policy.permits(ip, port)]
        if not allowed:
            raise RefusedAddress(f"{host} resolves only to refused addresses")
        return allowed

    async def _lookup(self, host: str) -> list[IPAddress]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        found: list[IPAddress] = []
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                address = ipaddress.ip_address(sockaddr[0])
                if address not in found:
                    found.append(address)
        if not found:
            raise socket.gaierror(f"no address for {host}")
        return found

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET if ip.version == 4 else socket.AF_INET6,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in await self.permitted(host, port)
            if family in (socket.AF_UNSPEC, socket.AF_INET if ip.version == 4 else socket.AF_INET6)
        ]

    async def close(self) -> None:
        self._cache.clear()
