"""Keyset paging: long reads (a storm's alerts, a 100,000-event timeline) in pages, so
memory stays bounded and no page is re-read from the start as OFFSET would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

PAGE = 1000


def keyset(
    session: Session, query: sa.Select[Any], key: sa.ColumnElement[Any], *, after: Any = None
) -> Iterator[Any]:
    """The rows of `query` ordered by the unique column `key`, `PAGE` at a time."""
    last = after
    while True:
        page = query if last is None else query.where(key > last)
        rows = session.execute(page.order_by(key).limit(PAGE)).all()
        yield from rows
        if len(rows) < PAGE:
            return
        last = getattr(rows[-1], key.name)
