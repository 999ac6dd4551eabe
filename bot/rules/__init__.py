"""Behaviour configuration: the YAML under rules/, validated, and the routing it implies."""

from bot.rules.loader import ConfigError, Problem, load_rules
from bot.rules.model import Route, RulesConfig
from bot.rules.router import RouteDecision, Router

__all__ = [
    "ConfigError",
    "Problem",
    "Route",
    "RouteDecision",
    "Router",
    "RulesConfig",
    "load_rules",
]
