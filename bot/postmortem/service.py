"""Drafts for the running bot and for one-shot commands: gather and render inside one
read session (in a worker thread), so the lazy timeline streams from the database."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.postmortem.draft import DraftContext, gather
from bot.postmortem.render import Format, render, render_to
from bot.store import Store

if TYPE_CHECKING:
    from bot.app import Pagerbot


def context_for(bot: Pagerbot) -> DraftContext:
    return DraftContext(
        now=bot.clock(),
        base_url=bot.settings.base_url,
        rules=bot.rules,
        runbooks=bot.config.runbooks,
        router=bot.router,
        config_dir=bot.settings.config_dir,
    )


def render_session(session: Session, number: int, ctx: DraftContext, fmt: Format) -> str:
    return render(gather(session, number, ctx), fmt, config_dir=ctx.config_dir)


async def render_for_bot(bot: Pagerbot, number: int, fmt: Format) -> str:
    ctx = context_for(bot)
    return await bot.store.read(lambda s: render_session(s, number, ctx, fmt))


async def write_file(store: Store, number: int, ctx: DraftContext, fmt: Format, path: Path) -> int:
    """Renders straight into a temporary file beside `path`, then moves it into place: a
    template error never leaves half a post-mortem behind."""

    def run(session: Session) -> int:
        draft = gather(session, number, ctx)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                written = render_to(draft, fmt, out, config_dir=ctx.config_dir)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return written

    return await store.read(run)
