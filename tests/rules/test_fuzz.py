"""Whatever is under rules/ and runbooks/, `load_config` returns a Config or raises a
ConfigError whose every problem points at a real line of a real file. Nothing else escapes.

Three generators: random documents (real section and field names mixed with junk, any
scalar), the example config with random structural mutations, and the example files'
raw text with random character edits (broken indentation, stray YAML syntax, unicode).

Two crash classes found earlier (durations past timedelta's range, mixed naive and
offset datetimes) have their own properties below. Regexes that make `re.compile` warn
are covered by test_validation.test_regex_that_warns_is_not_a_crash, so FutureWarning
is ignored here.
"""

from __future__ import annotations

import copy
import io
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot.config import Config, load_config
from bot.rules import ConfigError, Problem

REPO = Path(__file__).resolve().parents[2]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SECTIONS = [
    "defaults",
    "teams",
    "schedules",
    "escalation_policies",
    "routes",
    "inhibit_rules",
    "maintenance_windows",
    "silences",
]
FIELDS = [
    *("match", "match_re", "matchers", "group_by", "team", "escalation", "channel"),
    *("notify_only", "runbook", "severity", "flap_window", "continue", "routes"),
    *("resolve_timeout", "members", "slack", "tz", "email", "timezone", "layers"),
    *("rotation", "start", "handoff", "shift_length", "restrict", "days", "from", "to"),
    *("overrides", "user", "handoff_ack", "steps", "notify", "after", "during", "repeat"),
    *("repeat_after", "ack_timeout", "source", "source_re", "source_matchers", "target"),
    *("target_re", "target_matchers", "equal", "name", "every", "owner", "reason", "ends"),
    *("starts", "title", "actions", "description", "run", "http", "params", "approvers"),
    *("approval", "timeout", "env", "max_concurrent", "cooldown", "auto"),
    *("auto_max_per_hour", "method", "url", "headers", "json"),
]
WORDS = [
    *("5m", "0", "0s", "1h30m", "2d", "30s", "soon", "-5m", "10", "1.5h", "5 m", "100ms"),
    *("Mon 09:00", "08:00", "24:00", "25:00", "8:00", "Sun", "Monday", "..."),
    *("UTC", "Europe/Berlin", "Mars/Olympus", "", " ", "2026-01-05T09:00", "2026-13-45"),
    *("team:payments", "schedule:primary", "user:alice", "oncall:primary", "team:", "x:y"),
    *("alice", "bob", "payments", "primary", "weekly", "daily", "custom", "required"),
    *("two", "none", 'team="a"', 'env=~"(x"', 'pod!~"canary-.*"', "a=", "=b", "(x", ".*"),
    *("{{ labels.x }}", "{{ labels }}", "{% for x in y %}", "{{", "#payments", "~", "null"),
]
keys = st.one_of(
    st.sampled_from(SECTIONS + FIELDS),
    st.text(max_size=8),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=20,
)
top_levels = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(SECTIONS), keys), values, max_size=4),
    values,  # sometimes a list or a scalar at the top
)
front_matters = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["title", "match", "match_re", "actions", "owner"]), keys),
        values,
        max_size=4,
    ),
    values,
)


def dump(data: Any) -> str:
    yaml = YAML()
    yaml.default_flow_style = None
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def line_count(data: bytes) -> int:
    return len(data.decode("utf-8", errors="replace").splitlines())


def assert_points_at_a_real_line(root: Path, problem: Problem) -> None:
    assert isinstance(problem, Problem)
    assert isinstance(problem.file, str) and problem.file, problem
    rel = Path(problem.file)
    assert not rel.is_absolute() and ".." not in rel.parts, problem
    assert rel.parts[0] in ("rules", "runbooks"), problem
    path = root / rel
    assert path.is_file(), f"{problem}: no such file under the config folder"
    assert type(problem.line) is int, problem
    assert 1 <= problem.line <= line_count(path.read_bytes()) + 1, (
        f"{problem}: the file has {line_count(path.read_bytes())} lines"
    )
    assert isinstance(problem.field, str) and isinstance(problem.message, str), problem
    assert problem.message, problem
    where = f"{problem.file}:{problem.line}: "
    field = f"{problem.field}: " if problem.field else ""
    assert str(problem) == f"{where}{field}{problem.message}"


def check(files: dict[str, str | bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "rules").mkdir()
        (root / "runbooks").mkdir()
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            path.write_bytes(data)
        try:
            config = load_config(root)
        except ConfigError as exc:
            assert exc.problems, "ConfigError without problems"
            for problem in exc.problems:
                assert_points_at_a_real_line(root, problem)
        else:
            assert isinstance(config, Config)


# ---------------------------------------------------------------- random documents

RULE_NAMES = ["a.yaml", "b.yml", "sub/c.yaml", "ünï.yaml", "z z.yaml"]
BOOK_NAMES = ["one.md", "two-2.md", "dré.md"]


@FUZZ
@given(
    rules=st.dictionaries(st.sampled_from(RULE_NAMES), top_levels, min_size=1, max_size=3),
    books=st.dictionaries(st.sampled_from(BOOK_NAMES), front_matters, max_size=2),
    body=st.text(max_size=40),
)
def test_random_documents(rules: dict[str, Any], books: dict[str, Any], body: str) -> None:
    files: dict[str, str | bytes] = {f"rules/{n}": dump(d) for n, d in rules.items()}
    files.update({f"runbooks/{n}": f"---\n{dump(d)}---\n{body}" for n, d in books.items()})
    check(files)


# ---------------------------------------------------------------- mutated example config


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load_examples() -> dict[str, Any]:
    safe = YAML(typ="safe")
    out: dict[str, Any] = {}
    for path in sorted((REPO / "rules").glob("*.yaml")):
        out[f"rules/{path.name}"] = _plain(safe.load(path.read_text(encoding="utf-8")))
    for path in sorted((REPO / "runbooks").glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        out[f"runbooks/{path.name}"] = (_plain(safe.load(front)), body)
    return out


EXAMPLES = _load_examples()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, str | bytes]:
    docs = {name: copy.deepcopy(doc) for name, doc in EXAMPLES.items()}
    for _ in range(draw(st.integers(1, 5))):
        name = draw(st.sampled_from(sorted(docs)))
        is_book = name.startswith("runbooks/")
        root = docs[name][0] if is_book else docs[name]
        paths = _paths(root)[1:]
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent = root
        for part in path[:-1]:
            parent = parent[part]
        how = draw(st.sampled_from(["scalar", "value", "delete", "add", "duplicate"]))
        if how == "scalar":
            parent[path[-1]] = draw(scalars)
        elif how == "value":
            parent[path[-1]] = draw(values)
        elif how == "delete":
            del parent[path[-1]]
        elif how == "duplicate" and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[draw(st.one_of(st.sampled_from(FIELDS), keys))] = draw(values)
            elif isinstance(target, list):
                target.append(draw(values))
    if draw(st.booleans()):  # split one file's sections over two files
        name = draw(st.sampled_from([n for n in sorted(docs) if n.startswith("rules/")]))
        doc = docs[name]
        if isinstance(doc, dict) and len(doc) > 1:
            moved = draw(st.sampled_from(sorted(map(str, doc))))
            docs[f"rules/zz/{moved}.yaml"] = {moved: doc.pop(moved)}
    out: dict[str, str | bytes] = {}
    for name, doc in docs.items():
        if name.startswith("runbooks/"):
            front, body = doc
            out[name] = f"---\n{dump(front)}---\n{body}"
        else:
            out[name] = dump(doc)
    return out


@FUZZ
@given(mutated_examples())
def test_mutated_example_config(files: dict[str, str | bytes]) -> None:
    check(files)


def test_unmutated_example_config_round_trips() -> None:
    """The mutation base itself is valid once dumped again: mutations start from a
    config that loads, so what they find is what they changed."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, doc in EXAMPLES.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.startswith("runbooks/"):
                path.write_text(f"---\n{dump(doc[0])}---\n{doc[1]}", encoding="utf-8")
            else:
                path.write_text(dump(doc), encoding="utf-8")
        load_config(root)


# ---------------------------------------------------------------- raw text edits

TEXTS = {
    path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8")
    for path in [
        *sorted((REPO / "rules").glob("*.yaml")),
        *sorted((REPO / "runbooks").glob("*.md")),
    ]
}
SNIPPETS = st.one_of(
    st.sampled_from(
        [
            *(" ", "  ", "\t", "\n", "\r\n", "\r", ":", ": ", "- ", "-", "[", "]", "{", "}"),
            *(",", "#", "&a ", "*a", "!", "!!str ", "!!binary ", "|", ">", "'", '"', "%", "@"),
            *("`", "?", "? ", "---\n", "...\n", "\x00", "\ufeff", "\u2028", "\x85", "é", "💥"),
            *("<<: ", "~", "0", "9", "-5m", "soon", "junk: 1\n", "    extra: [x]\n"),
        ]
    ),
    st.text(max_size=6),
)


@st.composite
def edited_texts(draw: st.DrawFn) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = dict(TEXTS)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(files)))
        text = files[name]
        assert isinstance(text, str)
        for _ in range(draw(st.integers(1, 5))):
            i = draw(st.integers(0, len(text)))
            how = draw(st.sampled_from(["insert", "delete", "indent", "dedent", "dup", "swap"]))
            lines = text.splitlines(keepends=True)
            j = draw(st.integers(0, max(0, len(lines) - 1)))
            if how == "insert":
                text = text[:i] + draw(SNIPPETS) + text[i:]
            elif how == "delete":
                text = text[:i] + text[i + draw(st.integers(1, 30)) :]
            elif lines and how == "indent":
                lines[j] = " " * draw(st.integers(1, 4)) + lines[j]
                text = "".join(lines)
            elif lines and how == "dedent":
                lines[j] = lines[j][draw(st.integers(1, 4)) :]
                text = "".join(lines)
            elif lines and how == "dup":
                lines.insert(j, lines[j])
                text = "".join(lines)
            elif len(lines) > 1:
                k = draw(st.integers(0, len(lines) - 1))
                lines[j], lines[k] = lines[k], lines[j]
                text = "".join(lines)
        files[name] = text
    if draw(st.integers(0, 9)) == 0:  # now and then a file that is not UTF-8
        name = draw(st.sampled_from(sorted(files)))
        raw = files[name]
        assert isinstance(raw, str)
        files[name] = raw.encode("utf-8") + b"\xff\xfe caf\xe9\n"
    return files


@FUZZ
@given(edited_texts())
def test_edited_example_text(files: dict[str, str | bytes]) -> None:
    check(files)


@FUZZ
@given(
    rules=st.dictionaries(st.sampled_from(RULE_NAMES), st.text(max_size=200), max_size=2),
    books=st.dictionaries(st.sampled_from(BOOK_NAMES), st.text(max_size=200), max_size=2),
    fenced=st.booleans(),
)
def test_arbitrary_text(rules: dict[str, str], books: dict[str, str], fenced: bool) -> None:
    files: dict[str, str | bytes] = {f"rules/{n}": t for n, t in rules.items()}
    for name, text in books.items():
        files[f"runbooks/{name}"] = f"---\n{text}\n---\nbody\n" if fenced else text
    check(files)


# ---------------------------------------------------------------- crashes found before

SMALL = settings(
    max_examples=50,
    deadline=None,
    database=None,
)


@SMALL
@given(amount=st.integers(0, 10**30), unit=st.sampled_from(["y", "w", "d", "h", "m", "s", "ms"]))
def test_durations_of_any_size(amount: int, unit: str) -> None:
    check({"rules/a.yaml": f"defaults:\n  resolve_timeout: {amount}{unit}\n"})


@pytest.mark.parametrize("where", ["maintenance_windows", "overrides"])
@SMALL
@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),
    length=st.timedeltas(min_value=timedelta(minutes=-600), max_value=timedelta(days=3)),
    offsets=st.tuples(
        st.one_of(st.none(), st.integers(-12, 14)), st.one_of(st.none(), st.integers(-12, 14))
    ),
)
def test_datetimes_with_and_without_offsets(
    where: str,
    start: datetime,
    length: timedelta,
    offsets: tuple[int | None, int | None],
) -> None:
    def text(moment: datetime, hours: int | None) -> str:
        moment = moment.replace(microsecond=0)
        if hours is not None:
            moment = moment.replace(tzinfo=timezone(timedelta(hours=hours)))
        return moment.isoformat()

    start_text, end_text = text(start, offsets[0]), text(start + length, offsets[1])
    if where == "maintenance_windows":
        rules = (
            "maintenance_windows:\n  - match: {a: b}\n"
            f"    from: '{start_text}'\n    to: '{end_text}'\n"
        )
    else:
        rules = (
            "teams:\n  t:\n    members: {alice: {}}\n"
            "schedules:\n  s:\n    timezone: UTC\n    layers:\n"
            "      - {rotation: daily, start: 2026-01-05T09:00, members: [alice]}\n"
            f"    overrides:\n      - {{user: alice, from: '{start_text}', to: '{end_text}'}}\n"
        )
    check({"rules/a.yaml": rules})
