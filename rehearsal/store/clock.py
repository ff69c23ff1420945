"""Wall-clock stamps for the database (UTC, ISO 8601, milliseconds)."""

from datetime import datetime, timezone


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
