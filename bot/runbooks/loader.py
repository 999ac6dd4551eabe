"""Loads runbooks/*.md: YAML front matter between `---` lines, then Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from bot.rules.loader import Locator, Problem, _Origin, parse_yaml
from bot.rules.matchers import Matcher, matches_all
from bot.runbooks.model import Runbook


@dataclass(frozen=True)
class RunbookFile:
    name: str
    path: str
    meta: Runbook
    body: str
    matchers: tuple[Matcher, ...] = field(default=())


@dataclass(frozen=True)
class Runbooks:
    by_name: dict[str, RunbookFile]
    locator: Locator

    def for_alert(self, labels: dict[str, str], explicit: str | None = None) -> RunbookFile | None:
        """The route's explicit runbook, else the first (by name) whose match fits."""
        if explicit is not None:
            return self.by_name.get(explicit)
        for name in sorted(self.by_name):
            book = self.by_name[name]
            if book.matchers and matches_all(book.matchers, labels):
                return book
        return None


def split_front_matter(text: str) -> tuple[str, str] | None:
    """Only a `---` at the start of a line fences: an indented one belongs to the YAML
    (e.g. inside a block scalar)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return None


def load_runbooks(config_dir: Path, problems: list[Problem]) -> Runbooks:
    """Every runbook that is valid; problems are appended, never raised."""
    locator = Locator()
    books: dict[str, RunbookFile] = {}
    folder = config_dir / "runbooks"
    for path in sorted(folder.glob("*.md")):
        rel = str(path.relative_to(config_dir))
        try:
            text = path.read_text(encoding="utf-8-sig")  # editors on Windows add a BOM
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(rel, 1, "", f"cannot read: {exc}"))
            continue
        parts = split_front_matter(text)
        if parts is None:
            problems.append(
                Problem(
                    rel,
                    1,
                    "",
                    "no front matter: start the file with --- and "
                    "a YAML block (title, match, actions), then ---",
                )
            )
            continue
        front, body = parts
        before = len(problems)
        data = parse_yaml(front, rel, problems, offset=1)
        if data is None and len(problems) > before:
            continue
        if data is None:
            data = CommentedMap()  # empty front matter: validated, so `title` is asked for
        if not isinstance(data, CommentedMap):
            problems.append(Problem(rel, 2, "", "front matter must be a mapping"))
            continue
        name = path.stem
        locator.roots[name] = Problem(rel, 2, "", "")
        for key in data:
            locator.add((name, key), _Origin(rel, data, key, offset=1))
        try:
            meta = Runbook.model_validate(dict(data))
        except ValidationError as exc:
            problems.extend(locator.from_validation(exc, prefix=(name,)))
            continue
        books[name] = RunbookFile(name, rel, meta, body, meta.compiled())
    return Runbooks(books, locator)
