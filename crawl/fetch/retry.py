"""When a failed request is worth trying again, and how long to wait first.

Only transient failures are retried: timeouts, broken connections, 429 (too many
requests) and 5xx (server trouble). Anything else (404, a wrong content type, a refused
address) will fail the same way again. Waits grow exponentially with jitter, so
requests that failed together do not all come back together; a server's Retry-After is
obeyed exactly, and one longer than the configured cap means "give up", not "wait less".
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def is_transient_status(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def backoff(attempt: int, base: float, cap: float) -> float:
    """Wait before retry number ``attempt`` (0-based): base * 2^attempt, capped, jittered."""
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)
