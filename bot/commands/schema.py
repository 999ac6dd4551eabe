"""`pagerbot schema`: the JSON Schema of rules/*.yaml, for editors (yaml-language-server)."""

from __future__ import annotations

import json
from typing import Any

from bot.rules.model import RulesConfig


def schema() -> dict[str, Any]:
    out = RulesConfig.model_json_schema(by_alias=True, mode="validation")
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "Pagerbot rules (any file under rules/)"
    return out


def run() -> int:
    print(json.dumps(schema(), indent=2, sort_keys=True))
    return 0
