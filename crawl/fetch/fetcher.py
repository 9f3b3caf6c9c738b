"""The fetcher: one aiohttp session that downloads pages and images politely and safely.

Every URL goes through the same steps, and each step that says no ends the fetch with
a reason that is counted (``fetch/<kind>/failed/<reason>``, ``hosts/<host>/<reason>``):

1. ``check_url``: http(s) only, well formed, no credentials (bad_scheme, bad_url);
2. the host's addresses are checked against the address policy (refused_address, dns);
3. robots.txt of the site, fetched once and cached (robots);
4. the request itself, under the per-host and global limits, retried when transient
   (timeout, connection, http_<status>); the socket is only opened to an address the
   policy permits (refused_address); then the response: status, content type, opt-out
   header, body size while it streams (http_<status>, content_type, optout, too_large);
5. redirects are followed by hand, each hop going back to step 1
   (redirect_loop, too_many_redirects).

Nothing raises out of ``fetch`` for anything a URL or a server can do; only a bad
``kind`` (a caller's bug) raises.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from datetime import datetime, timezone
from types import TracebackType

import aiohttp
import yarl

from flamboyance.shards.stats import Stats

from .address import AddressPolicy, UnsafeURL, check_url, ip_literal
from .config import FetchConfig, FetchResult
from .limits import Limits
from .optout import header_opts_out
from .resolver import RefusedAddress, SafeResolver
from .retry import backoff, is_transient_status, parse_retry_after
from .robots import MAX_ROBOTS_BYTES, Robots, RobotsCache

REDIRECTS = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 section 2.3.1.2


class FetchError(Exception):
    """A fetch that ends here; ``reason`` is the Stats reason."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Transient(FetchError):
    """A failure worth retrying (timeout, connection, 429, 5xx)."""


class Fetcher:
    """Fetch pages and images; use as ``async with Fetcher(config) as fetcher``.

    One Fetcher holds one connection pool, one DNS cache and one robots.txt cache: make
    one per process (or per Ray task) and send every URL through it.
    """

    def __init__(self, config: FetchConfig | None = None, stats: Stats | None = None) -> None:
        self.config = config or FetchConfig()
        self.stats = stats if stats is not None else Stats()
        self.policy = AddressPolicy.from_strings(self.config.allow_private, self.config.allowed_networks)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Fetcher":
        config = self.config
        self._resolver = SafeResolver(self.policy, ttl=config.dns_ttl)
        self._limits = Limits(config.max_concurrency, config.max_per_host)
        self._robots = RobotsCache()
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            use_dns_cache=False,  # our resolver caches, and checks every answer
            limit=config.max_concurrency,
            limit_per_host=0,  # Limits enforces it per host name, across ports and schemes
            socket_factory=self._open_socket,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": config.user_agent},
            timeout=aiohttp.ClientTimeout(
                total=config.total_timeout, connect=config.connect_timeout, sock_read=config.read_timeout
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # never route through a proxy from the environment
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, kind: str) -> FetchResult:
        """Fetch one URL as a ``"page"`` or an ``"image"``; never raises for bad URLs or servers."""
        if kind not in self.config.max_bytes or kind not in self.config.content_types:
            raise ValueError(f"unknown kind {kind!r}: configure max_bytes and content_types for it")
        if self._session is None:
            raise RuntimeError("use the Fetcher inside 'async with'")
        started = time.monotonic()
        result = FetchResult(
            url=url, final_url=url, fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds")
        )
        host = None
        try:
            target = check_url(url)
            host = target.raw_host
            await self._follow(target, kind, result)
        except (FetchError, UnsafeURL) as failure:
            result.error = failure.reason
            result.body = None
        result.elapsed = time.monotonic() - started
        outcome = result.error or "ok"
        self.stats.add(f"fetch/{kind}/ok" if result.error is None else f"fetch/{kind}/failed/{outcome}")
        if host:
            self.stats.add(f"hosts/{host}/{outcome}")
        return result

    async def _follow(self, target: yarl.URL, kind: str, result: FetchResult) -> None:
        seen = {str(target)}
        for _ in range(self.config.max_redirects + 1):
            result.final_url = str(target)
            await self._check_address(target)
            delay = self.config.per_host_delay
            if self.config.respect_robots:
                robots = await self._robots.get(_site(target), functools.partial(self._load_robots, target))
                if not robots.allows(target.raw_path_qs):
                    raise FetchError("robots")
                delay = max(delay, min(robots.crawl_delay or 0.0, self.config.max_crawl_delay))
            location = await self._request(target, kind, result, delay)
            if location is None:
                return
            target = check_url(_join(target, location))
            if str(target) in seen:
                raise FetchError("redirect_loop")
            seen.add(str(target))
        raise FetchError("too_many_redirects")

    async def _check_address(self, target: yarl.URL) -> None:
        """Refuse before connecting: IP literals here, host names through the resolver."""
        host, port = target.raw_host or "", target.port or 0
        literal = ip_literal(host)
        try:
            if literal is None:
                await self._resolver.permitted(host, port)
            elif not self.policy.permits(literal, port):
                raise FetchError("refused_address")
        except RefusedAddress:
            raise FetchError("refused_address") from None
        except OSError:
            raise FetchError("dns") from None

    async def _request(self, target: yarl.URL, kind: str, result: FetchResult, delay: float) -> str | None:
        """One hop with retries: the Location to follow, or None once the body is in."""
        config = self.config
        attempt = 0
        while True:
            try:
                return await self._attempt(target, kind, result, delay)
            except _Transient as failure:
                wait = failure.retry_after
                if wait is None:
                    wait = backoff(attempt, config.backoff_base, config.backoff_max)
                if attempt >= config.retries or wait > config.max_retry_after:
                    raise FetchError(failure.reason) from None
                attempt += 1
                self.stats.add(f"fetch/{kind}/retries")
                await asyncio.sleep(wait)

    async def _attempt(self, target: yarl.URL, kind: str, result: FetchResult, delay: float) -> str | None:
        config = self.config
        host = target.raw_host or ""
        async with self._limits.slot(host, delay):
            try:
                async with self._session.get(target, allow_redirects=False) as response:
                    result.status = response.status
                    result.headers = _lower_headers(response)
                    result.ip = _peer_address(response)
                    location = response.headers.get("Location")
                    if response.status in REDIRECTS and location:
                        return location
                    if is_transient_status(response.status):
                        retry_after = parse_retry_after(response.headers.get("Retry-After"))
                        if retry_after:
                            self._limits.back_off(host, min(retry_after, config.max_retry_after))
                        raise _Transient(f"http_{response.status}", retry_after)
                    if not 200 <= response.status < 300:
                        raise FetchError(f"http_{response.status}")
                    if not config.accepts(kind, response.headers.get("Content-Type", "")):
                        raise FetchError("content_type")
                    if kind == "image" and header_opts_out(
                        response.headers.getall("X-Robots-Tag", ()),
                        config.agent_token,
                        config.optout_directives,
                    ):
                        raise FetchError("optout")
                    result.body = await _read(response, config.max_bytes[kind], truncate=False)
                    return None
            except FetchError:
                raise
            except TimeoutError:
                raise _Transient("timeout") from None
            except aiohttp.ClientConnectorError as error:
                raise _connector_failure(error) from None
            except (aiohttp.InvalidURL, ValueError):
                raise FetchError("bad_url") from None
            except aiohttp.ClientResponseError:
                raise FetchError("bad_response") from None
            except (aiohttp.ClientError, OSError):
                raise _Transient("connection") from None

    def _open_socket(self, addr_info: tuple) -> socket.socket:
        """Create the socket for a connection, after a last check of the very address it
        will connect to: no cache, redirect or rebinding can get past this point."""
        family, type_, proto, _, sockaddr = addr_info
        address = ip_literal(str(sockaddr[0]).split("%", 1)[0])
        if address is None or not self.policy.permits(address, sockaddr[1]):
            raise RefusedAddress(f"refusing to connect to {sockaddr[0]}")
        return socket.socket(family=family, type=type_, proto=proto)

    async def _load_robots(self, target: yarl.URL) -> Robots:
        """robots.txt of ``target``'s site: 2xx parsed, other 4xx allow all, 429, 5xx and
        unreachable disallow all (RFC 9309 2.3.1; 429 as Google treats it: a site that
        is overloaded does not want crawlers). More than 5 redirects: unavailable, allow."""
        url = target.with_path("/robots.txt", encoded=True)
        timeout = aiohttp.ClientTimeout(total=self.config.robots_timeout)
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            try:
                await self._check_address(url)
                async with self._limits.slot(url.raw_host or "", self.config.per_host_delay):
                    async with self._session.get(url, allow_redirects=False, timeout=timeout) as response:
                        status, location = response.status, response.headers.get("Location")
                        if status in REDIRECTS and location:
                            url = check_url(_join(url, location))
                            continue
                        if 200 <= status < 300:
                            body = await _read(response, MAX_ROBOTS_BYTES, truncate=True)
                            self.stats.add("robots/parsed")
                            return Robots.parse(body.decode("utf-8", "replace"), self.config.agent_token)
            except (FetchError, UnsafeURL, aiohttp.ClientError, OSError, ValueError) as error:
                reason = getattr(error, "reason", None) or (
                    "timeout" if isinstance(error, TimeoutError) else "connection"
                )
                self.stats.add(f"robots/disallow_all/{reason}")
                return Robots.disallow_all()
            if 400 <= status < 500 and status != 429:
                self.stats.add(f"robots/allow_all/http_{status}")
                return Robots.allow_all()
            self.stats.add(f"robots/disallow_all/http_{status}")
            return Robots.disallow_all()
        self.stats.add("robots/allow_all/too_many_redirects")
        return Robots.allow_all()


def _site(url: yarl.URL) -> str:
    return f"{url.scheme}://{url.raw_host}:{url.port}"


def _join(base: yarl.URL, location: str) -> str:
    """Absolute URL of a Location header (relative ones are common)."""
    try:
        return str(base.join(yarl.URL(location)))
    except (ValueError, UnicodeError, TypeError):
        raise FetchError("bad_url") from None


def _peer_address(response: aiohttp.ClientResponse) -> str | None:
    """The address the response came from. aiohttp hands a small response's connection
    back to the pool before we see the response, so its protocol is the only way left."""
    protocol = response.connection.protocol if response.connection else getattr(response, "_protocol", None)
    transport = getattr(protocol, "transport", None)
    peer = transport.get_extra_info("peername") if transport else None
    return str(peer[0]) if peer else None


def _lower_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _connector_failure(error: aiohttp.ClientConnectorError) -> FetchError:
    if isinstance(error.os_error, RefusedAddress):
        return FetchError("refused_address")
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return FetchError("dns")
    if isinstance(error, aiohttp.ClientSSLError):
        return FetchError("ssl")
    return _Transient("connection")


async def _read(response: aiohttp.ClientResponse, limit: int, truncate: bool) -> bytes:
    """The body, never more than ``limit`` bytes: announced larger or grown larger while
    streaming, it is cut off (``truncate``) or refused with too_large, unread."""
    if response.content_length is not None and response.content_length > limit and not truncate:
        response.close()
        raise FetchError("too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            response.close()
            if not truncate:
                raise FetchError("too_large")
            chunks.append(chunk[: len(chunk) - (size - limit)])
            break
        chunks.append(chunk)
    return b"".join(chunks)
