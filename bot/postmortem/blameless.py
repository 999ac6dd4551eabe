"""Finds blaming language in a post-mortem, line by line, with a system-focused rewording.

People write better reviews when the document asks "what made this easy to get wrong?"
rather than "who got it wrong?". The check is a linter, not a judge: it flags phrases
that usually point at a person, and team members named as the cause of something."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    why: str
    suggestion: str


@dataclass(frozen=True, slots=True)
class Finding:
    line: int
    column: int
    phrase: str
    why: str
    suggestion: str

    def format(self, path: str) -> str:
        return f'{path}:{self.line}:{self.column}: "{self.phrase}": {self.why}. {self.suggestion}'


def _rule(words: str, why: str, suggestion: str) -> Rule:
    return Rule(re.compile(rf"\b(?:{words})\b", re.IGNORECASE), why, suggestion)


RULES: tuple[Rule, ...] = (
    Rule(
        re.compile(r"\b(?:human|operator|user|engineer|manual|people)[ -]errors?\b", re.I),
        "names a person as the cause and ends the inquiry",
        'Describe what made the action easy to get wrong, e.g. "the deploy tool accepted '
        'a production target without confirmation".',
    ),
    _rule(
        r"should(?:n't| not)? have|should've|ought to have|could have easily",
        "judges with hindsight what someone knew only afterwards",
        'Say what would have made the better action the obvious one, e.g. "the runbook '
        'did not mention the replica lag check".',
    ),
    _rule(
        r"careless(?:ly|ness)?|negligen(?:t|ce|tly)|sloppy|lazy|reckless(?:ly)?|incompetent"
        r"|incompetence|stupid|dumb|inattentive",
        "judges a person's character instead of describing the conditions",
        'Describe the conditions, e.g. "the change was made at 03:00 after a 14-hour shift, '
        'with no second reviewer".',
    ),
    _rule(
        r"forgot|forgets|forgotten|forgetting|neglected to|failed to notice|overlooked",
        "blames memory; the process relied on someone remembering",
        'Name the missing guardrail, e.g. "no checklist or automation ensures the flag is '
        'reset after the migration".',
    ),
    _rule(
        r"(?:the )?fault of|at fault|(?:his|her|their|[a-z]+'s) fault|to blame|blame[sd]?"
        r"|blaming|culprit|responsible for (?:the|this) (?:outage|incident|failure)",
        "assigns fault to a person",
        'Describe contributing factors instead, e.g. "contributing factor: the alert '
        'threshold was above the point where users noticed".',
    ),
    _rule(
        r"(?:his|her|their) (?:mistake|error|oversight)|mistake (?:made )?by|made a mistake"
        r"|messed up|screwed up|dropped the ball|didn't bother|did not bother",
        "frames the event as a personal failing",
        'Describe the action and the state of the system at the time, e.g. "the command '
        'ran against the primary because both hosts share a prompt".',
    ),
)

_CAUSE_AFTER = (
    r"caused|broke|brought down|took down|forgot|deleted|dropped|misconfigured|pushed"
    r"|deployed|ignored|missed|failed to|did not|didn't|should have|made a mistake|messed up"
)
_CAUSE_BEFORE = r"because(?: of)?|due to|caused by|thanks to|blame[sd]? on|fault of|mistake by"


def _person_rules(people: Iterable[str]) -> list[Rule]:
    names = sorted({p for p in people if p and len(p) > 1}, key=len, reverse=True)
    if not names:
        return []
    who = "|".join(re.escape(n) for n in names)
    suggestion = (
        'Make the system the subject, e.g. "the deploy pipeline applied the change to all '
        'regions at once" instead of "<name> deployed to all regions".'
    )
    return [
        Rule(
            re.compile(rf"\b(?:{who})(?:'s)?\s+(?:{_CAUSE_AFTER})\b", re.I),
            "names a team member as the subject of a cause",
            suggestion,
        ),
        Rule(
            re.compile(rf"\b(?:{_CAUSE_BEFORE})\s+(?:@)?(?:{who})\b", re.I),
            "names a team member as the cause",
            suggestion,
        ),
    ]


def check_lines(lines: Iterable[str], people: Iterable[str] = ()) -> Iterator[Finding]:
    """Findings in order; fenced code blocks (logs, commands) are not prose and are skipped."""
    rules = [*_person_rules(people), *RULES]
    fenced = False
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        taken: list[tuple[int, int]] = []
        for rule in rules:
            for match in rule.pattern.finditer(line):
                span = match.span()
                if any(a < span[1] and span[0] < b for a, b in taken):
                    continue
                taken.append(span)
                yield Finding(number, span[0] + 1, match.group(0), rule.why, rule.suggestion)


def check_text(text: str, people: Iterable[str] = ()) -> list[Finding]:
    found = list(check_lines(text.splitlines(), people))
    return sorted(found, key=lambda f: (f.line, f.column))
