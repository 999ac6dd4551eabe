"""Alertmanager's API v2, for the silences Pagerbot mirrors there."""

from __future__ import annotations

from datetime import datetime

import aiohttp

from bot.rules.matchers import Matcher, Op

_TIMEOUT = aiohttp.ClientTimeout(total=10)


class AlertmanagerError(RuntimeError):
    pass


def _matcher_json(matcher: Matcher) -> dict[str, object]:
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.op in (Op.RE, Op.NRE),
        "isEqual": matcher.op in (Op.EQ, Op.RE),
    }


class AlertmanagerClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def create_silence(
        self,
        matchers: list[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        body = {
            "matchers": [_matcher_json(m) for m in matchers],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=_TIMEOUT) as http,
                http.post(f"{self.base_url}/api/v2/silences", json=body) as resp,
            ):
                if resp.status != 200:
                    raise AlertmanagerError(
                        f"Alertmanager refused the silence: {resp.status} {await resp.text()}"
                    )
                return str((await resp.json())["silenceID"])
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AlertmanagerError(f"Alertmanager unreachable: {exc}") from exc

    async def expire_silence(self, silence_id: str) -> None:
        try:
            async with (
                aiohttp.ClientSession(timeout=_TIMEOUT) as http,
                http.delete(f"{self.base_url}/api/v2/silence/{silence_id}") as resp,
            ):
                # 404: already gone there, which is what we want.
                if resp.status not in (200, 404):
                    raise AlertmanagerError(
                        f"Alertmanager refused to expire {silence_id}: {resp.status} "
                        f"{await resp.text()}"
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AlertmanagerError(f"Alertmanager unreachable: {exc}") from exc
