"""Fixtures for the Slack tests: the Web API stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.chat.standin import SlackStandin


@pytest.fixture
async def slack_standin() -> AsyncIterator[SlackStandin]:
    async with SlackStandin() as standin:
        yield standin
