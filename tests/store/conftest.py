from __future__ import annotations

from pathlib import Path

import pytest

from bot.rules import Router, load_rules


@pytest.fixture
def router(config_dir: Path) -> Router:
    return Router(load_rules(config_dir))
