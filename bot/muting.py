"""Muting at run time: the current silences, the inhibition index, re-evaluation when
either changes, and reminders to silence owners."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson

from bot.config import Config
from bot.incidents.grouping import Item
from bot.ingest import Alert, AlertStatus
from bot.notify import Notifier
from bot.rules.mute import Mute, Muter, SilenceRule
from bot.rules.router import Router
from bot.silences import SilenceService
from bot.store import Store, queries
from bot.store import silences as db
from bot.store.paging import last_key

log = logging.getLogger(__name__)
EXPIRY_NOTICE = timedelta(hours=1)
UNUSED_NOTICE = timedelta(days=1)


async def firing_pages(
    store: Store, *, full: bool, muted_only: bool = False
) -> AsyncIterator[Sequence[Any]]:
    """Every firing alert of an open incident (`muted_only`: that something mutes), one
    `queries.firing_page` at a time."""
    after: tuple[Any, ...] | None = None
    while True:
        page = partial(queries.firing_page, after=after, full=full, muted_only=muted_only)
        rows = await store.read(page)
        if rows:
            yield rows
        if len(rows) < queries.FIRING_PAGE:
            return
        after = last_key(rows, queries.FIRING_KEYS)


class MuteRuntime:
    def __init__(self, config: Config, store: Store, silences: SilenceService) -> None:
        self.store = store
        self.silences = silences
        self.muter = Muter(config.rules)
        self._db_silences: list[SilenceRule] = []
        self._signature: tuple[object, ...] = ()
        self._inhibit_version = 0
        self._matched: set[int] = set()

    def reconfigure(self, config: Config) -> None:
        self.muter = Muter(config.rules, self._db_silences)
        self._signature = ()  # re-evaluate everything against the new rules

    async def load(self) -> None:
        """Refill the inhibition index from the store (at start, and to catch other
        replicas). Only source alerts are kept; the rest is read a page at a time."""
        inhibitor = self.muter.inhibitor
        if inhibitor.rules:
            inhibitor.begin_rebuild()
            sources: list[tuple[str, dict[str, str]]] = []
            try:
                async for rows in firing_pages(self.store, full=False):
                    for row in rows:
                        labels = orjson.loads(row.labels)
                        if inhibitor.is_source(labels):
                            sources.append((row.fingerprint, labels))
            except BaseException:
                inhibitor.abandon_rebuild()  # keep the index as ingest has kept it
                raise
            if inhibitor.finish_rebuild(sources):
                self._inhibit_version += 1
        await self.refresh_silences()

    async def refresh_silences(self) -> None:
        self._db_silences = await self.silences.rules()
        self.muter = self.muter.with_silences(self._db_silences)

    def evaluate(self, alerts: list[Alert], now: datetime) -> list[Mute | None]:
        if self.muter.idle:
            return [None] * len(alerts)
        for alert in alerts:
            firing = alert.status is AlertStatus.FIRING
            if self.muter.inhibitor.observe(alert.fingerprint, alert.labels, firing):
                self._inhibit_version += 1
        mutes = []
        for alert in alerts:
            mute = None
            if alert.status is AlertStatus.FIRING:
                mute = self.muter.mute(alert.fingerprint, alert.labels, now)
                if mute is not None and mute.ref.startswith("silence:") and mute.ref[8:].isdigit():
                    self._matched.add(int(mute.ref[8:]))
            mutes.append(mute)
        return mutes

    def _current_signature(self, now: datetime) -> tuple[object, ...]:
        silences = frozenset(s.ref for s in self.muter.silences.all if s.active(now))
        windows = frozenset(w.name for w in self.muter.windows if w.active(now))
        return silences, windows, self._inhibit_version

    async def remute_pages(self, router: Router) -> AsyncIterator[list[Item]]:
        """Stored firing alerts whose mute differs from what the rules say now, a page
        at a time, so a storm's alerts are never all in memory at once.

        When nothing can mute now, only the alerts muted before can change, and only
        they are read: after a restart in a storm, reading all 30,000 firing alerts
        beside ingest took 0.5-0.9 s and held up the webhooks that came meanwhile."""
        now = self.store.clock()
        signature = self._current_signature(now)
        if signature == self._signature:
            return
        self._signature = signature
        muted_only = self.muter.mutes_nothing(now)
        async for rows in firing_pages(self.store, full=True, muted_only=muted_only):
            items = []
            for row in rows:
                labels = orjson.loads(row.labels)
                mute = self.muter.mute(row.fingerprint, labels, now)
                if (mute.ref if mute else None) == row.muted_by:
                    continue
                alert = Alert(
                    labels,
                    orjson.loads(row.annotations),
                    AlertStatus.FIRING,
                    row.starts_at,
                    row.ends_at,
                    row.generator_url,
                    row.fingerprint,
                    row.source,
                )
                route = replace(router.default, route_id=row.route_id)
                items.append(Item(alert, row.group_key, route, mute))
            if items:
                yield items

    async def flush_matched(self) -> None:
        if self._matched:
            ids, self._matched = sorted(self._matched), set()
            await self.store.write(
                partial(db.mark_matched, silence_ids=ids, now=self.store.clock())
            )

    async def remind(self, notifier: Notifier) -> int:
        """Tell owners of silences about to expire, and of silences that match nothing."""
        now = self.store.clock()
        sent = 0
        for silence in await self.store.read(lambda s: db.active(s, now)):
            assert silence.id is not None
            what = f"silence #{silence.id} ({', '.join(db.matchers_of(silence))}: {silence.reason})"
            if silence.ends_at - now <= EXPIRY_NOTICE and silence.reminded_expiry_at is None:
                await notifier.notify_user(
                    silence.owner,
                    f"Your {what} expires at {silence.ends_at:%Y-%m-%d %H:%M}Z. "
                    "Extend it if the work is not done: `pagerbot silence add`.",
                )
                await self.store.write(
                    partial(
                        db.mark_reminded, silence_id=silence.id, field="reminded_expiry_at", now=now
                    )
                )
                sent += 1
            last = silence.last_matched_at or silence.starts_at
            quiet = (
                silence.reminded_unused_at is None
                or now - silence.reminded_unused_at >= UNUSED_NOTICE
            )
            if silence.starts_at <= now and now - last >= UNUSED_NOTICE and quiet:
                await notifier.notify_user(
                    silence.owner,
                    f"Your {what} has matched no alert for a day. If it is no "
                    f"longer needed: `pagerbot silence expire {silence.id}`.",
                )
                await self.store.write(
                    partial(
                        db.mark_reminded, silence_id=silence.id, field="reminded_unused_at", now=now
                    )
                )
                sent += 1
        return sent
