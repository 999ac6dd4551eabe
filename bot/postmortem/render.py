"""Rendering in Jinja2's sandbox: operators may override the template
(`runbooks/templates/postmortem.md.j2`), so a template must not reach Python internals.
HTML output is autoescaped; Markdown output escapes alert text with the `md` filter."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.postmortem.durations import human
from bot.postmortem.timeline import Link

Format = Literal["md", "html"]
FORMATS: tuple[Format, ...] = ("md", "html")
OVERRIDE_DIR = Path("runbooks") / "templates"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


class TemplateProblem(Exception):
    """A template that cannot be rendered; the message names the file and the cause."""


def md(value: object) -> str:
    """Alert and user text on one Markdown line, unable to open links, HTML or tables."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "—"


def duration(value: timedelta | None) -> str:
    return human(value) if value is not None else "—"


def md_links(links: Iterable[Link]) -> str:
    return " · ".join(f"[{md(link.label)}]({link.url})" for link in links)


def environment(config_dir: Path | None = None, *, overridable: bool = True) -> Any:
    """Templates from `runbooks/templates/` in the config folder first, then the package's."""
    loaders: list[BaseLoader] = []
    if overridable and config_dir is not None:
        loaders.append(FileSystemLoader(str(config_dir / OVERRIDE_DIR)))
    loaders.append(PackageLoader("bot.postmortem", "templates"))
    env = ImmutableSandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=lambda name: name is not None and ".html" in name,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md, when=when, duration=duration, md_links=md_links)
    return env


def _variables(draft: Any) -> dict[str, Any]:
    values = {f.name: getattr(draft, f.name) for f in dataclasses.fields(draft)}
    values["draft"] = draft
    values["measure"] = {m.name: m for m in draft.measures}
    return values


def chunks(
    draft: Any, fmt: Format, *, config_dir: Path | None = None, name: str = "postmortem"
) -> Iterator[str]:
    """The rendered draft piece by piece; `TemplateProblem` for a broken or refused
    template (raised before or during the pieces: write to a temporary file)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use md or html")
    env = environment(config_dir)
    template_name = f"{name}.{fmt}.j2"
    try:
        template = env.get_template(template_name)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"{exc.filename or template_name}:{exc.lineno}: template syntax error: {exc.message}"
        ) from None
    except TemplateNotFound:
        raise TemplateProblem(f"template {template_name} not found") from None
    where = template.filename or template_name
    try:
        yield from template.generate(**_variables(draft))
    except SecurityError as exc:
        raise TemplateProblem(f"{where}: refused by the template sandbox: {exc}") from None
    except TemplateError as exc:
        raise TemplateProblem(f"{where}: {type(exc).__name__}: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
        raise TemplateProblem(f"{where}: {type(exc).__name__}: {exc}") from None


def render(draft: Any, fmt: Format, *, config_dir: Path | None = None) -> str:
    return "".join(chunks(draft, fmt, config_dir=config_dir))


def render_to(draft: Any, fmt: Format, out: TextIO, *, config_dir: Path | None = None) -> int:
    """Writes as it renders (memory stays flat on long timelines); returns characters."""
    written = 0
    for piece in chunks(draft, fmt, config_dir=config_dir):
        written += out.write(piece)
    return written
