"""Keyset paging: long reads (a storm's alerts, a 100,000-event timeline) in pages, so
memory stays bounded and no page is re-read from the start as OFFSET would."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

PAGE = 1000


def page(
    session: Session,
    query: sa.Select[Any],
    keys: Sequence[sa.ColumnElement[Any]],
    after: tuple[Any, ...] | None = None,
    size: int = PAGE,
) -> Sequence[sa.Row[Any]]:
    """The next `size` rows of `query` after the row whose unique `keys` were `after`."""
    if after is not None:
        newer = keys[0] > after[0] if len(keys) == 1 else sa.tuple_(*keys) > sa.tuple_(*after)
        query = query.where(newer)
    return session.execute(query.order_by(*keys).limit(size)).all()


def last_key(rows: Sequence[sa.Row[Any]], keys: Sequence[sa.ColumnElement[Any]]) -> tuple[Any, ...]:
    """Where the page after `rows` starts."""
    return tuple(getattr(rows[-1], key.name) for key in keys)


def keyset(
    session: Session, query: sa.Select[Any], key: sa.ColumnElement[Any], *, after: Any = None
) -> Iterator[Any]:
    """The rows of `query` ordered by the unique column `key`, `PAGE` at a time."""
    last = None if after is None else (after,)
    while True:
        rows = page(session, query, [key], last)
        yield from rows
        if len(rows) < PAGE:
            return
        last = last_key(rows, [key])
