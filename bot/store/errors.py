"""What a failed write means to the sender: retry later (503), or a fault of ours."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or written; senders should retry (HTTP 503)."""


class IngestFailed(RuntimeError):
    """A batch failed in the ingest process for a reason other than the database."""


def unavailable(exc: Exception) -> Exception:
    """A lost or refused connection becomes StoreUnavailable; anything else stays itself."""
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return StoreUnavailable(f"database unavailable: {exc.orig or exc}")
    return exc
