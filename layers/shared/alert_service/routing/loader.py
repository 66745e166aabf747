"""Loading a routing file: YAML (repository, build, tests) or JSON (the layer) -> ``RoutingTable``.

The repository holds ``routing.yaml``; the build converts it to ``routing.json`` beside this module
(``scripts/build_routing.py``), so Lambda reads it with ``json`` and the layer needs no YAML parser.
Both paths run the same checker; YAML errors name the line, so a bad file fails ``make
check-routing``, the tests and the build, never an invocation at 3 a.m.

PyYAML is imported only to read YAML, which happens in the tools venv (aws-sam-cli depends on it).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path as FilePath
from typing import Any

from alert_service.alarm import State
from alert_service.routing.check import Path, Problem, check
from alert_service.routing.model import (
    DefaultOverrides,
    Destinations,
    Match,
    RoutingTable,
    Rule,
)

# Where the build puts the converted file; ALERT_ROUTING_FILE overrides it (local runs, tests).
SHIPPED_FILE = FilePath(__file__).with_name("routing.json")
ROUTING_FILE_ENV = "ALERT_ROUTING_FILE"


class RoutingFileError(ValueError):
    """A routing file that cannot be used; ``str()`` lists each problem as ``file:line: why``."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]) -> None:
        self.source = source
        # In file order, so a person fixes them top to bottom; problems without a line last.
        problems = sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))
        self.problems = problems
        super().__init__(
            "\n".join(
                f"{source}:{line}: {message}" if line else f"{source}: {message}"
                for line, message in problems
            )
        )


def load_file(path: str | os.PathLike[str]) -> RoutingTable:
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingFileError(str(file), [(None, f"cannot be read ({error.strerror})")]) from None
    return load_text(text, str(file))


def load_text(text: str, source: str = "routing.yaml") -> RoutingTable:
    """Parse, check and compile a routing file (JSON when ``source`` ends in ``.json``)."""
    data, lines = parse_text(text, source)
    return compile_table(data, source, lines)


def parse_text(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """The file's plain data and the line of each path in it (YAML only), checked for problems."""
    if source.endswith(".json"):
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise RoutingFileError(source, [(error.lineno, f"not JSON: {error.msg}")]) from None
        lines: dict[Path, int] = {}
    else:
        data, lines = _yaml_with_lines(text, source)
    problems = check(data)
    if problems:
        raise RoutingFileError(source, [(_line_of(p, lines), _message(p)) for p in problems])
    return data, lines


def _message(problem: Problem) -> str:
    return f"{problem.where}: {problem.message}"


def _line_of(problem: Problem, lines: dict[Path, int]) -> int | None:
    """The line of the problem's path, or of its nearest enclosing path that has one."""
    path = problem.path
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _yaml_with_lines(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    try:
        import yaml  # tools venv only: the layer reads the JSON the build wrote
    except ImportError:
        raise RoutingFileError(
            source, [(None, "reading YAML needs PyYAML; the layer reads the built routing.json")]
        ) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise RoutingFileError(source, [(line, f"not valid YAML: {error.problem}")]) from None
    except yaml.YAMLError as error:
        raise RoutingFileError(source, [(None, f"not valid YAML: {error}")]) from None
    lines: dict[Path, int] = {}
    duplicates: list[tuple[int | None, str]] = []
    if node is not None:
        _walk(node, (), lines, duplicates)
    if duplicates:
        # PyYAML keeps the last of two equal keys silently; a rule written twice is a mistake.
        raise RoutingFileError(source, duplicates)
    return data, lines


def _walk(node: Any, path: Path, lines: dict[Path, int], duplicates: list) -> None:
    """Record each path's line (1-based) and every key given twice in one mapping."""
    import yaml

    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                where = ".".join(str(p) for p in (*path, key))
                duplicates.append((key_node.start_mark.line + 1, f"{where}: key given twice"))
            seen.add(key)
            _walk(value_node, (*path, key), lines, duplicates)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, duplicates)


def compile_table(data: Any, source: str, lines: dict[Path, int] | None = None) -> RoutingTable:
    """A checked document -> the compiled table (call ``check`` first: this trusts its input)."""
    lines = lines or {}
    data = data or {}
    default = data.get("default", {})
    rules = tuple(
        _rule(rule, lines.get(("rules", index))) for index, rule in enumerate(data.get("rules", []))
    )
    return RoutingTable(
        rules=rules,
        default=DefaultOverrides(
            slack_webhooks=_opt_tuple(default, "slack_webhooks"),
            slack_channel=default.get("slack_channel"),
            email=_opt_tuple(default, "email"),
            sms=_opt_tuple(default, "sms"),
        ),
        source=source,
    )


def _many(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _opt_tuple(block: dict[str, Any], key: str) -> tuple[str, ...] | None:
    return tuple(dict.fromkeys(block[key])) if key in block else None


def _rule(rule: dict[str, Any], line: int | None) -> Rule:
    match = rule.get("match") or {}
    return Rule(
        name=rule["name"],
        match=Match(
            alarm_name=_many(match.get("alarm_name")),
            namespace=frozenset(_many(match.get("namespace"))),
            metric=frozenset(_many(match.get("metric"))),
            dimensions=tuple(
                (name, _many(globs)) for name, globs in (match.get("dimensions") or {}).items()
            ),
            account=frozenset(_many(match.get("account"))),
            region=frozenset(_many(match.get("region"))),
            state=frozenset(State(s) for s in _many(match.get("state"))),
            severity=frozenset(_many(match.get("severity"))),
        ),
        to=Destinations(
            slack_webhooks=tuple(dict.fromkeys(rule.get("slack_webhooks", ()))),
            slack_channel=rule.get("slack_channel"),
            email=tuple(dict.fromkeys(rule.get("email", ()))),
            sms=tuple(dict.fromkeys(rule.get("sms", ()))),
        ),
        severity=rule.get("severity"),
        continue_=bool(rule.get("continue", False)),
        line=line,
    )


@cache
def shipped_table() -> RoutingTable:
    """The routing file the layer ships (``ALERT_ROUTING_FILE`` overrides), read once per process.

    No file: no rules, every alarm takes the default route (today's behaviour).
    """
    configured = os.environ.get(ROUTING_FILE_ENV, "").strip()
    file = FilePath(configured) if configured else SHIPPED_FILE
    if not configured and not file.exists():
        return RoutingTable(source="(no routing file: default route only)")
    return load_file(file)
