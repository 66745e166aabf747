"""The routing file's checker: plain data (from YAML or JSON) -> the problems, each at its path.

A small hand-written twin of ``routing.schema.json``: the layer validates without the
``jsonschema`` package (several MB and ~100 ms of imports), and the tests run both on the same good
and bad files so the two cannot drift apart. It also checks what a schema cannot say well: rule
names are unique, and every rule sends somewhere (a rule without a destination would lose alarms).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alert_service.alarm import State
from alert_service.config import E164, EMAIL
from alert_service.redact import mask_phone

Path = tuple[str | int, ...]

VERSION = 1
STATES = tuple(s.value for s in State)
WEBHOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A Slack channel id (C…, G… for private channels) or a #name.
SLACK_CHANNEL = re.compile(r"^(?:[CG][A-Z0-9]{8,}|#[a-z0-9][a-z0-9_-]{0,79})$")
SEVERITY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
NAMESPACE = re.compile(r"^[^:].{0,254}$")
PLAIN = re.compile(r"^.{1,255}$", re.DOTALL)
DESTINATIONS = ("slack_webhooks", "slack_channel", "email", "sms")


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    @property
    def where(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(top)"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: Any, path: Path, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, not {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.fail((*path, str(key)), f"unknown key {key!r}; allowed: {', '.join(allowed)}")
        return value

    def text(
        self,
        value: Any,
        path: Path,
        pattern: re.Pattern[str],
        what: str,
        show: Callable[[str], str] = repr,
    ) -> None:
        """``show`` prints the bad value in the message (``mask_phone`` for phone numbers)."""
        if not isinstance(value, str):
            hint = f" (quote it: '{value}')" if isinstance(value, int | float) else ""
            if show is not repr:
                hint = " (quote it)" if hint else ""
            self.fail(path, f"must be a string, not {_kind(value)}{hint}")
        elif not pattern.match(value):
            self.fail(path, f"{show(value)} is not {what}")

    def one_or_many(
        self,
        value: Any,
        path: Path,
        check: Callable[[Any, Path], None],
        *,
        many_only: bool = False,
        allow_empty: bool = False,
    ) -> None:
        """A single value, or a non-empty list of them (``many_only``: a list only)."""
        if isinstance(value, list):
            if not value and not allow_empty:
                self.fail(path, "must not be an empty list")
            for index, item in enumerate(value):
                check(item, (*path, index))
        elif many_only:
            self.fail(path, f"must be a list, not {_kind(value)}")
        else:
            check(value, path)


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    return {bool: "true/false", int: "a number", float: "a number", str: "a string"}.get(
        type(value), {list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
    )


def check(document: Any) -> list[Problem]:
    """Every problem of a routing document; an empty list means it is valid."""
    c = _Checker()
    top = c.mapping(document, (), ("version", "default", "rules"))
    if top is None:
        return c.problems
    if "version" not in top:
        c.fail((), f"missing 'version' (write: version: {VERSION})")
    elif top["version"] != VERSION or isinstance(top["version"], bool):
        c.fail(("version",), f"must be {VERSION}")
    if "default" in top:
        default = c.mapping(top["default"], ("default",), DESTINATIONS)
        if default is not None:
            # An empty list is allowed here: it turns a channel off for the default route.
            _destinations(c, default, ("default",), allow_empty=True)
    rules = top.get("rules", [])
    if not isinstance(rules, list):
        c.fail(("rules",), f"must be a list, not {_kind(rules)}")
        return c.problems
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        path: Path = ("rules", index)
        _rule(c, rule, path)
        name = rule.get("name") if isinstance(rule, dict) else None
        if isinstance(name, str):
            if name in seen:
                c.fail((*path, "name"), f"{name!r} is already the name of rules[{seen[name]}]")
            seen.setdefault(name, index)
    return c.problems


RULE_KEYS = ("name", "description", "match", "severity", "continue", *DESTINATIONS)
MATCH_KEYS = (
    "alarm_name",
    "namespace",
    "metric",
    "dimensions",
    "account",
    "region",
    "state",
    "severity",
)


def _rule(c: _Checker, value: Any, path: Path) -> None:
    rule = c.mapping(value, path, RULE_KEYS)
    if rule is None:
        return
    if "name" not in rule:
        c.fail(path, "missing 'name' (each rule needs a unique name, shown by explain)")
    else:
        c.text(rule["name"], (*path, "name"), RULE_NAME, "a rule name (letters, digits, _.:-)")
    if "description" in rule:
        c.text(rule["description"], (*path, "description"), re.compile(r"^.*$", re.S), "text")
    if "severity" in rule:
        c.text(rule["severity"], (*path, "severity"), SEVERITY, "a lower-case severity")
    if "continue" in rule and not isinstance(rule["continue"], bool):
        c.fail((*path, "continue"), f"must be true or false, not {_kind(rule['continue'])}")
    if "match" in rule:
        _match(c, rule["match"], (*path, "match"))
    _destinations(c, rule, path)
    if not any(key in rule for key in DESTINATIONS):
        c.fail(path, f"sends nowhere: give at least one of {', '.join(DESTINATIONS)}")


def _match(c: _Checker, value: Any, path: Path) -> None:
    match = c.mapping(value, path, MATCH_KEYS)
    if match is None:
        return
    plain = {
        "alarm_name": (PLAIN, "an alarm name glob"),
        "namespace": (NAMESPACE, "a CloudWatch namespace"),
        "metric": (PLAIN, "a metric name"),
        "account": (ACCOUNT, "a 12-digit account id"),
        "region": (REGION, "a region code such as ap-northeast-2"),
        "severity": (SEVERITY, "a lower-case severity"),
    }
    for key, (pattern, what) in plain.items():
        if key in match:
            c.one_or_many(
                match[key], (*path, key), lambda v, p, pt=pattern, w=what: c.text(v, p, pt, w)
            )
    if "state" in match:
        state_re = re.compile(f"^(?:{'|'.join(STATES)})$")
        c.one_or_many(
            match["state"],
            (*path, "state"),
            lambda v, p: c.text(v, p, state_re, f"one of {', '.join(STATES)}"),
        )
    if "dimensions" in match:
        dimensions = match["dimensions"]
        if not isinstance(dimensions, dict) or not dimensions:
            c.fail((*path, "dimensions"), "must be a non-empty mapping of name: value (or glob)")
        else:
            for name, globs in dimensions.items():
                c.text(name, (*path, "dimensions", name), PLAIN, "a dimension name")
                c.one_or_many(
                    globs,
                    (*path, "dimensions", name),
                    lambda v, p: c.text(v, p, PLAIN, "a dimension value glob"),
                )


def _destinations(
    c: _Checker, block: dict[str, Any], path: Path, *, allow_empty: bool = False
) -> None:
    if "slack_channel" in block:
        c.text(
            block["slack_channel"],
            (*path, "slack_channel"),
            SLACK_CHANNEL,
            "a Slack channel id (C0123456789) or #name",
        )
    # Phone numbers are masked in messages (they are personal data, and errors reach logs).
    lists: dict[str, tuple[re.Pattern[str], str, Callable[[str], str]]] = {
        "slack_webhooks": (WEBHOOK_NAME, "a webhook name (a key of the webhook secret)", repr),
        "email": (EMAIL, "an email address", repr),
        "sms": (E164, "an E.164 number (+<country><number>)", mask_phone),
    }
    for key, (pattern, what, show) in lists.items():
        if key in block:
            c.one_or_many(
                block[key],
                (*path, key),
                lambda v, p, pt=pattern, w=what, s=show: c.text(v, p, pt, w, s),
                many_only=True,
                allow_empty=allow_empty,
            )
