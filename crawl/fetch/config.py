"""Settings of the fetcher, and the result it gives for each URL.

Defaults are polite for a crawl of the open web: a few connections per host, robots.txt
honoured, an identifying User-Agent with a contact URL (site owners who see our traffic
must be able to reach us), bounded bodies and bounded waits. Tests and intranet crawls
loosen ``allow_private`` / ``allowed_networks``; nothing else needs changing to scale.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["page", "image"]


@dataclass(frozen=True)
class FetchConfig:
    """How to fetch: identity, politeness, limits, retries and address safety."""

    # Identity. The product token is what robots.txt groups are matched against.
    agent_token: str = "FlamboyanceBot"
    agent_version: str = "0.1"
    contact_url: str = "https://github.com/flamboyance/flamboyance"
    # Concurrency and politeness.
    max_concurrency: int = 256
    max_per_host: int = 4
    per_host_delay: float = 0.0
    max_crawl_delay: float = 10.0  # a robots.txt Crawl-delay is honoured up to this
    # Timeouts in seconds: to connect, between two reads, for a whole request.
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    robots_timeout: float = 10.0
    # Retries of transient failures (timeouts, connection errors, 429, 5xx).
    retries: int = 2
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 60.0  # a longer Retry-After gives up instead of waiting
    max_redirects: int = 5
    # What to accept, per kind.
    max_bytes: dict[str, int] = field(default_factory=lambda: {"page": 5 << 20, "image": 20 << 20})
    content_types: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"page": ("text/html", "application/xhtml+xml"), "image": ("image/*",)}
    )
    # Respect for site owners.
    respect_robots: bool = True
    optout_directives: frozenset[str] = frozenset({"noai", "noimageai", "noindex", "noimageindex"})
    # Address safety (see address.py): private addresses are refused unless allowed here.
    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()
    dns_ttl: float = 300.0

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.max_per_host < 1:
            raise ValueError("max_concurrency and max_per_host must be at least 1")
        if self.retries < 0 or self.max_redirects < 0:
            raise ValueError("retries and max_redirects cannot be negative")

    @property
    def user_agent(self) -> str:
        return f"{self.agent_token}/{self.agent_version} (+{self.contact_url})"

    def accepts(self, kind: str, content_type: str) -> bool:
        """Whether a response's media type (without parameters) is wanted for ``kind``."""
        media = content_type.split(";", 1)[0].strip().lower()
        return bool(media) and any(
            fnmatch.fnmatchcase(media, pattern) for pattern in self.content_types[kind]
        )


@dataclass
class FetchResult:
    """What became of one URL. ``error`` is None on success, else the Stats reason."""

    url: str
    final_url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None
    ip: str | None = None
    fetched_at: str = ""
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None
