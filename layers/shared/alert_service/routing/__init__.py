"""Routing rules: which alarm goes to whom (issue 13).

A routing file (``routing.yaml`` at the repository root, reviewed like code) lists rules; the first
rule that matches a notification decides where it goes, unless it says ``continue``. A notification
no rule matches takes the default route: today's destinations from the template parameters
(``EMAIL_RECIPIENTS``/``EMAIL_STATES``, ``SMS_RECIPIENTS``/``SMS_STATES``, the ``default`` webhook).

The layer ships the file as JSON (``scripts/build_routing.py`` validates the YAML and converts it at
build time), so Lambda parses it with the standard library: no YAML parser in the layer.

    >>> from alert_service import routing
    >>> table = routing.load_file("routing.yaml")  # doctest: +SKIP
    >>> routing.route(notification, "critical", table, default).slack_webhooks  # doctest: +SKIP
    ('dba',)
"""

from __future__ import annotations

from alert_service.routing.loader import RoutingFileError, load_file, load_text, shipped_table
from alert_service.routing.match import route
from alert_service.routing.model import (
    DEFAULT_WEBHOOK,
    Defaults,
    Match,
    Route,
    RoutingTable,
    Rule,
    default_route,
)

__all__ = [
    "DEFAULT_WEBHOOK",
    "Defaults",
    "Match",
    "Route",
    "RoutingFileError",
    "RoutingTable",
    "Rule",
    "default_route",
    "load_file",
    "load_text",
    "route",
    "shipped_table",
]
