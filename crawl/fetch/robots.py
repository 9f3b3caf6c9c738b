"""robots.txt rules as RFC 9309 defines them, and a per-site cache of them.

We write the parser ourselves because ``urllib.robotparser`` is not RFC 9309: it applies
the first rule that matches in file order instead of the longest (most specific) one,
knows neither the ``*`` nor the ``$`` wildcard, does not let Allow win a tie, and picks a
group by substring of the User-Agent. Those differences decide whether we fetch pages a
site asked us not to, so they are tested case by case in tests/test_fetch_robots.py.

What the RFC says and we do:
- Groups start with one or more ``user-agent`` lines; the group whose token equals our
  product token (case-insensitively) applies, several such groups are merged, and
  without one the ``*`` groups apply; with neither, everything is allowed.
- The matching rule with the longest pattern wins; on a tie Allow wins. ``*`` matches any
  run of characters, a final ``$`` anchors at the end. ``/robots.txt`` is always allowed.
- Only the first 500 KiB are read. ``Crawl-delay`` (not in the RFC, widely used) is
  kept so the fetcher can space requests to the site.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import quote

MAX_ROBOTS_BYTES = 500 * 1024
_TOKEN = re.compile(r"[A-Za-z_-]+")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def normalize_path(path: str) -> str:
    """One spelling for a path: non-ASCII percent-encoded, escapes of unreserved
    characters decoded and the rest upper-cased, so ``/%7ejoe`` and ``/~joe`` match."""

    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(unescape, quote(path, safe="!#$%&'()*+,/:;=?@[]~"))


@dataclass(frozen=True)
class _Rule:
    allow: bool
    length: int
    regex: re.Pattern[str]


def _compile(pattern: str, allow: bool) -> _Rule:
    normalized = normalize_path(pattern)
    anchored = normalized.endswith("$")
    body = normalized[:-1] if anchored else normalized
    regex = ".*?".join(re.escape(piece) for piece in body.split("*")) + (r"\Z" if anchored else "")
    return _Rule(allow, len(normalized), re.compile(regex, re.DOTALL))


class Robots:
    """The rules of one site for our user-agent token."""

    def __init__(self, rules: list[_Rule] | None = None, crawl_delay: float | None = None) -> None:
        # Most specific first, Allow before Disallow on equal length: the first match decides.
        self.rules = sorted(rules or [], key=lambda rule: (-rule.length, not rule.allow))
        self.crawl_delay = crawl_delay

    @classmethod
    def allow_all(cls) -> "Robots":
        return cls()

    @classmethod
    def disallow_all(cls) -> "Robots":
        return cls([_compile("/", allow=False)])

    @classmethod
    def parse(cls, text: str, agent_token: str) -> "Robots":
        """Rules of ``text`` (a robots.txt body) that apply to ``agent_token``."""
        ours, anyone = _Group(), _Group()
        agents: list[str] = []
        in_rules = False
        for raw_line in text[:MAX_ROBOTS_BYTES].lstrip("\ufeff").splitlines():
            key, sep, value = raw_line.split("#", 1)[0].partition(":")
            if not sep:
                continue
            key, value = key.strip().lower(), value.strip()
            if key in ("user-agent", "useragent"):
                if in_rules:
                    agents, in_rules = [], False
                match = _TOKEN.match(value)
                agents.append("*" if value.startswith("*") else (match.group(0).lower() if match else ""))
                continue
            if key not in ("allow", "disallow", "crawl-delay") or not agents:
                continue
            in_rules = True
            for group, token in ((ours, agent_token.lower()), (anyone, "*")):
                if token in agents:
                    group.add(key, value)
        group = ours if ours.seen else anyone
        return cls(group.rules, group.crawl_delay)

    def allows(self, path: str) -> bool:
        """Whether a path (with its query) may be fetched."""
        if path == "/robots.txt":
            return True
        normalized = normalize_path(path or "/")
        for rule in self.rules:
            if rule.regex.match(normalized):
                return rule.allow
        return True


class _Group:
    """Rules gathered from every group that names one user-agent token."""

    def __init__(self) -> None:
        self.rules: list[_Rule] = []
        self.crawl_delay: float | None = None
        self.seen = False

    def add(self, key: str, value: str) -> None:
        self.seen = True
        if key == "crawl-delay":
            try:
                delay = float(value)
            except ValueError:
                return
            if delay >= 0 and delay == delay:
                self.crawl_delay = max(delay, self.crawl_delay or 0.0)
        elif value:  # an empty Disallow allows everything: no rule needed
            self.rules.append(_compile(value, allow=key == "allow"))


class RobotsCache:
    """One robots.txt per site (scheme, host, port), fetched once even when many
    requests to the site start at the same moment; the oldest sites are forgotten
    beyond ``capacity`` so a crawl of millions of hosts stays in bounded memory."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, asyncio.Future[Robots]] = OrderedDict()

    async def get(self, site: str, load: Callable[[], Awaitable[Robots]]) -> Robots:
        entry = self._entries.get(site)
        if entry is None:
            entry = asyncio.ensure_future(load())
            self._entries[site] = entry
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(site)
        return await asyncio.shield(entry)
