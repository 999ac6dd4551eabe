"""`GET /runbooks/{name}`: a runbook as a page, the target of the links the bot posts.

Runbooks come from git, but they are still rendered with raw HTML disabled: a page the
responder opens at 3 a.m. must not run script someone slipped into a Markdown file.
"""

from __future__ import annotations

from functools import cache

from aiohttp import web
from jinja2 import Environment, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from bot.durations import format_duration
from bot.runbooks.loader import RunbookFile
from bot.web.keys import BOT

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ book.meta.title }} · runbook</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}
code,pre{font:14px ui-monospace,monospace;background:#f4f4f4}
pre{padding:.75rem;overflow-x:auto} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
.meta{color:#555}
</style></head><body>
<p class="meta">Runbook <code>{{ book.name }}</code> · <code>{{ book.path }}</code>
{%- if book.meta.owner %} · owner {{ book.meta.owner }}{% endif %}</p>
{%- if matchers %}<p class="meta">Serves alerts matching
{% for m in matchers %}<code>{{ m }}</code>{% if not loop.last %}, {% endif %}{% endfor %}</p>
{%- endif %}
{{ body }}
{%- if book.meta.actions %}
<h2>Remediation actions</h2>
<p class="meta">Run from the incident's Slack message; each run needs the approval shown.</p>
<table><tr><th>action</th><th>does</th><th>approval</th><th>timeout</th></tr>
{%- for a in book.meta.actions %}
<tr><td><code>{{ a.name }}</code></td><td>{{ a.description }}
{%- if a.run %}<br><code>{{ a.run | join(" ") }}</code>{% endif %}
{%- if a.http %}<br><code>{{ a.http.method }} {{ a.http.url }}</code>{% endif %}</td>
<td>{{ a.approval }}{% if a.approvers %} by {{ a.approvers | join(", ") }}{% endif %}</td>
<td>{{ a.timeout | duration }}</td></tr>
{%- endfor %}
</table>
{%- endif %}
</body></html>
"""


@cache
def _templates() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True))
    env.filters["duration"] = format_duration
    return env


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_runbook(book: RunbookFile) -> str:
    body = _markdown().render(book.body)
    # markdown-it made this HTML with raw HTML off: safe to embed as it is.
    return (
        _templates()
        .from_string(_PAGE)
        .render(book=book, body=Markup(body), matchers=[str(m) for m in book.matchers])
    )


async def runbook_page(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    name = request.match_info["name"].removesuffix(".md")
    book = bot.config.runbooks.by_name.get(name)
    if book is None:
        known = ", ".join(sorted(bot.config.runbooks.by_name)) or "none"
        return web.json_response(
            {"error": f"no runbook {name!r}; known runbooks: {known}"}, status=404
        )
    return web.Response(text=render_runbook(book), content_type="text/html")
