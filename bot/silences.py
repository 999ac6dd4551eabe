"""Creating and expiring run-time silences, mirrored in Alertmanager when it is configured,
so that the two never disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.alertmanager_client import AlertmanagerClient
from bot.rules.matchers import Matcher
from bot.rules.mute import SilenceRule
from bot.store import Store
from bot.store import silences as db
from bot.store.tables import Silence

MAX_SILENCE = timedelta(days=90)


class SilenceError(ValueError):
    pass


def parse_cli_matcher(text: str) -> Matcher:
    """`alertname=X`, `env=~prod.*`, `severity!=info`, or the quoted Alertmanager form."""
    try:
        return Matcher.parse(text)
    except ValueError:
        found = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=~|!~|!=|=)(.*)$", text)
        if found is None:
            raise SilenceError(
                f"bad matcher {text!r}: write LABEL=VALUE, LABEL=~REGEX, "
                "LABEL!=VALUE or LABEL!~REGEX"
            ) from None
        value = found[3].replace("\\", "\\\\").replace('"', '\\"')
        return Matcher.parse(f'{found[1]}{found[2]}"{value}"')


def rule_of(silence: Silence) -> SilenceRule:
    return SilenceRule(
        ref=f"silence:{silence.id}",
        matchers=tuple(Matcher.parse(m) for m in db.matchers_of(silence)),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        owner=silence.owner,
        reason=silence.reason,
    )


@dataclass
class SilenceService:
    store: Store
    alertmanager: AlertmanagerClient | None = None

    async def add(
        self,
        *,
        matchers: list[Matcher],
        ends_at: datetime,
        owner: str,
        reason: str,
        created_by: str,
        starts_at: datetime | None = None,
    ) -> int:
        now = self.store.clock()
        starts = starts_at or now
        if not matchers:
            raise SilenceError("a silence needs at least one matcher (it would mute everything)")
        if not reason.strip():
            raise SilenceError("a silence needs a reason")
        if ends_at <= starts:
            raise SilenceError("a silence must end after it starts")
        if ends_at - starts > MAX_SILENCE:
            raise SilenceError("a silence may last at most 90 days; use a maintenance window")
        am_id = None
        if self.alertmanager is not None:
            # Alertmanager first: if it refuses, nothing is created on either side.
            am_id = await self.alertmanager.create_silence(
                matchers, starts, ends_at, created_by, f"{reason} (owner: {owner}, via Pagerbot)"
            )
        try:
            return await self.store.write(
                partial(
                    db.add,
                    matchers=[str(m) for m in matchers],
                    starts_at=starts,
                    ends_at=ends_at,
                    owner=owner,
                    reason=reason,
                    created_by=created_by,
                    now=now,
                    alertmanager_id=am_id,
                )
            )
        except Exception:
            if self.alertmanager is not None and am_id is not None:
                await self.alertmanager.expire_silence(am_id)
            raise

    async def expire(self, silence_id: int) -> Silence:
        silence = await self.store.read(lambda s: db.get(s, silence_id))
        if silence is None:
            raise SilenceError(f"no silence {silence_id}")
        if silence.expired_at is not None:
            raise SilenceError(f"silence {silence_id} already expired")
        if self.alertmanager is not None and silence.alertmanager_id:
            await self.alertmanager.expire_silence(silence.alertmanager_id)
        await self.store.write(partial(db.expire, silence_id=silence_id, now=self.store.clock()))
        return silence

    async def rules(self) -> list[SilenceRule]:
        now = self.store.clock()
        return [rule_of(s) for s in await self.store.read(lambda s: db.active(s, now))]
