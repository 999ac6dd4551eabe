"""`GET /incidents/{n}`: an incident and its timeline as a page (the record the bot's
links and the post-mortem's evidence point to); `GET /incidents/{n}/postmortem`."""

from __future__ import annotations

from itertools import islice
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import Session

from bot.postmortem.draft import DraftContext, gather
from bot.postmortem.render import FORMATS, Format, TemplateProblem, environment, render
from bot.postmortem.service import context_for
from bot.postmortem.timeline import Linker, actor_label, iter_events
from bot.store.tables import remediation_runs
from bot.web.keys import BOT

PAGE_EVENTS = 500
_TYPES = {"md": "text/markdown", "html": "text/html"}


def _number(request: web.Request) -> int:
    text = request.match_info["number"].upper().removeprefix("INC-")
    if not text.isdigit():
        raise web.HTTPNotFound(text=f"no incident {request.match_info['number']!r}")
    return int(text)


def _after(request: web.Request) -> int:
    text = request.query.get("after", "0")
    if not text.isdigit():
        raise web.HTTPBadRequest(text="after must be an event id (a whole number)")
    return int(text)


def _page(session: Session, number: int, after: int, ctx: DraftContext) -> str:
    draft = gather(session, number, ctx)
    names = ctx.names()
    linker = Linker(ctx.base_url, number)
    rows = list(islice(iter_events(session, number, after=after), PAGE_EVENTS + 1))
    more = len(rows) > PAGE_EVENTS
    events: list[dict[str, Any]] = [
        {
            "id": e.id,
            "at": e.at,
            "kind": e.kind,
            "actor": actor_label(e.actor, names),
            "text": e.text,
            "links": [link for link in linker.links(e) if not link.url.startswith(draft.url)],
        }
        for e in rows[:PAGE_EVENTS]
    ]
    runs = session.execute(
        sa.select(remediation_runs)
        .where(remediation_runs.c.incident_id == number)
        .order_by(remediation_runs.c.id)
        .limit(PAGE_EVENTS)
    ).all()
    template = environment(overridable=False).get_template("incident.html.j2")
    return str(
        template.render(
            d=draft,
            events=events,
            runs=runs,
            after=after,
            next_after=events[-1]["id"] if more else None,
        )
    )


async def incident_page(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    number, after = _number(request), _after(request)
    ctx = context_for(bot)
    try:
        body = await bot.store.read(lambda s: _page(s, number, after, ctx))
    except LookupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    return web.Response(text=body, content_type="text/html", charset="utf-8")


async def postmortem(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    number = _number(request)
    fmt = request.query.get("format", "md")
    if fmt not in FORMATS:
        return web.json_response({"error": f"format must be md or html, not {fmt!r}"}, status=400)
    chosen: Format = "html" if fmt == "html" else "md"
    ctx = context_for(bot)
    try:
        body = await bot.store.read(
            lambda s: render(gather(s, number, ctx), chosen, config_dir=ctx.config_dir)
        )
    except LookupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    except TemplateProblem as exc:
        return web.json_response({"error": f"post-mortem template: {exc}"}, status=500)
    return web.Response(text=body, content_type=_TYPES[chosen], charset="utf-8")
