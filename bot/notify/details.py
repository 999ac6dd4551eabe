"""What a rich chat message shows beyond the incident row: pure, from stored rows and
the running configuration."""

from __future__ import annotations

from bot.config import Config
from bot.notify.base import Details, IncidentView, PersonView, RunbookView
from bot.rules.router import ROOT_ID
from bot.store.outbox import Extras


def describe(
    config: Config,
    public_url: str,
    incident: IncidentView,
    extras: Extras | None,
    *,
    attempt: int,
    entry_id: int,
) -> Details:
    if extras is None:
        return Details(attempt=attempt, entry_id=entry_id)
    members = config.rules.users()
    paged = tuple(
        PersonView(name, members[name].slack if name in members else None) for name in extras.paged
    )
    return Details(
        attempt=attempt,
        alerts=tuple(extras.alerts),
        paged=paged,
        runbook=_runbook(config, public_url, incident, extras),
        entry_id=entry_id,
    )


def _runbook(
    config: Config, public_url: str, incident: IncidentView, extras: Extras
) -> RunbookView | None:
    """The route's runbook, else the first whose match fits the incident's labels."""
    explicit = config.router.default.runbook if extras.route_id == ROOT_ID else None
    for node in config.router.walk():
        if node.id == extras.route_id:
            explicit = node.decision.runbook
            break
    labels = dict(extras.alerts[0].labels) if extras.alerts else {}
    labels.update({k: v for k, v in incident.group_labels.items() if v})
    book = config.runbooks.for_alert(labels, explicit)
    if book is None:
        return None
    return RunbookView(
        name=book.name,
        title=book.meta.title,
        url=f"{public_url.rstrip('/')}/runbooks/{book.name}",
        actions=tuple(action.name for action in book.meta.actions),
    )
