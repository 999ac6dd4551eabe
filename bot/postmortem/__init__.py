"""Post-mortem drafts: facts gathered from the timeline, rendered in a sandboxed Jinja2
environment so operators can override the template without being able to run code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import Pagerbot


async def postmortem_markdown(bot: Pagerbot, number: int) -> str:
    """The Markdown draft of INC-`number`, as the bot's current config renders it.

    Raises `LookupError` when there is no such incident and `render.TemplateProblem`
    when the operator's template is broken or refused by the sandbox.
    """
    from bot.postmortem.service import render_for_bot

    return await render_for_bot(bot, number, "md")


__all__ = ["postmortem_markdown"]
