"""Rendering: alert values reach an action only through their patterns."""

from __future__ import annotations

import pytest

from bot.remediation.render import Rendered, RenderError, render
from bot.runbooks.model import Action

ACTION = Action.model_validate(
    {
        "name": "restart",
        "run": [
            "kubectl",
            "rollout",
            "restart",
            "deployment/{{ labels.deployment }}",
            "-n",
            "{{ labels.namespace }}",
        ],
        "params": {"deployment": "^[a-z0-9-]{1,63}$", "namespace": "^[a-z0-9-]{1,63}$"},
        "approvers": ["team:payments"],
    }
)
INCIDENT = {"id": 7, "ref": "INC-7", "state": "triggered", "team": "payments"}


def _render(action: Action = ACTION, **labels: str) -> Rendered:
    base = {"deployment": "checkout", "namespace": "shop"} | labels
    return render(action, labels=base, annotations={}, incident=INCIDENT)


def test_renders_the_argument_list_exactly() -> None:
    rendered = _render()
    assert rendered.argv == ("kubectl", "rollout", "restart", "deployment/checkout", "-n", "shop")
    assert rendered.describe().splitlines()[0] == (
        "exec kubectl rollout restart deployment/checkout -n shop"
    )


@pytest.mark.parametrize(
    "value",
    [
        "checkout; rm -rf /",
        "$(touch /tmp/pwned)",
        "`id`",
        "checkout\nrm -rf /",
        "--kubeconfig=/tmp/evil",
        "--all-namespaces",
        "a" * 5000,
        "ch\u0435ckout",  # a Cyrillic e
        "checkout\x00",
        "",
    ],
)
def test_injection_through_a_label_is_refused_naming_the_parameter(value: str) -> None:
    with pytest.raises(RenderError, match=r"^parameter deployment: "):
        _render(deployment=value)


def test_a_missing_label_is_refused_naming_the_parameter() -> None:
    with pytest.raises(RenderError, match="parameter namespace: the incident has no label"):
        render(ACTION, labels={"deployment": "checkout"}, annotations={}, incident=INCIDENT)


def test_control_characters_and_leading_dash_refused_whatever_the_pattern() -> None:
    loose = ACTION.model_copy(update={"params": {"deployment": ".*", "namespace": "(?s).*"}})
    with pytest.raises(RenderError, match=r"parameter namespace: .*control character"):
        _render(loose, namespace="shop\nkube-system")
    with pytest.raises(RenderError, match=r"parameter deployment: .*starts with '-'"):
        _render(loose, deployment="--all")
    assert _render(loose, deployment="x; rm -rf / $(id)").argv[3] == "deployment/x; rm -rf / $(id)"


def test_sandbox_refuses_attribute_tricks_on_the_incident() -> None:
    sneaky = Action.model_validate(
        {"name": "x", "run": ["echo", "{{ incident.__class__.__mro__ }}"], "approval": "none"}
    )
    with pytest.raises(RenderError, match="template"):
        render(sneaky, labels={}, annotations={}, incident=INCIDENT)


def test_only_listed_environment_names_exist_and_only_in_http_headers() -> None:
    in_argv = Action.model_validate(
        {"name": "x", "run": ["echo", "{{ env.HOME }}"], "env": ["HOME"], "approval": "none"}
    )
    with pytest.raises(RenderError, match="env"):
        render(in_argv, labels={}, annotations={}, incident=INCIDENT)
    hook = Action.model_validate(
        {
            "name": "hook",
            "http": {
                "url": "https://deploy.example/{{ labels.deployment }}",
                "headers": {"Authorization": "Bearer {{ env.TOKEN }}"},
                "json": {"incident": "{{ incident.ref }}", "n": 3},
            },
            "params": {"deployment": "^[a-z]+$"},
            "env": ["TOKEN"],
            "approval": "none",
        }
    )
    rendered = render(hook, labels={"deployment": "api"}, annotations={}, incident=INCIDENT)
    assert rendered.url == "https://deploy.example/api"
    assert rendered.body == {"incident": "INC-7", "n": 3}
    assert "Authorization: Bearer ${TOKEN}" in rendered.describe()
    stored = Rendered.from_json(rendered.to_json())
    assert stored.headers_with_secrets({"TOKEN": "s3cret"}) == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in stored.to_json()
