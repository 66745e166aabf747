"""Where a cold start's import time goes: ``python -X importtime`` on a built function.

    python -m bench.importtime SlackRelayFunction [--top 25] [--baseline] [--import-only]

Runs the function exactly as the bench does (local.runtime's worker, the runtime venv, the local
endpoints), with ``-X importtime``, through the import of the handler AND its first event (lazy
imports happen there), and prints the slowest imports by cumulative time for each phase.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import sys
from pathlib import Path

from bench import FUNCTIONS, OUT_DIR
from bench.runner import Program, build_baselines, check_build, programs
from local.pipeline import LocalPipeline
from local.runtime import RUNTIME_PYTHON, WORKER_SCRIPT

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
MARK = "=== first event ===\n"


@dataclasses.dataclass(frozen=True)
class Entry:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse(text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative, indent, module = match.groups()
            entries.append(Entry(module, int(self_us), int(cumulative), len(indent) // 2))
    return entries


def _top_level_imports(source: Path) -> set[str]:
    names = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def handler_block(entries: list[Entry]) -> list[Entry]:
    """The handler module's imports, without the interpreter's and the worker's own start-up.

    The worker (local/_worker.py) imports its own modules, then loads the handler with
    importlib.import_module, which -X importtime does not log: the handler's imports are what
    follows the last top-level import of the worker's own.
    """
    own = _top_level_imports(WORKER_SCRIPT)
    last = max((i for i, e in enumerate(entries) if e.depth == 0 and e.module in own), default=-1)
    return entries[last + 1 :]


def report(title: str, entries: list[Entry], top: int) -> str:
    if not entries:
        return f"## {title}: no imports\n"
    roots = [e for e in entries if e.depth == min(x.depth for x in entries)]
    total = sum(e.cumulative_us for e in roots)
    lines = [
        f"## {title}: {len(entries)} modules, {total / 1000:.1f} ms in top-level imports",
        "",
        f"{'cumulative ms':>13} {'self ms':>8}  module (indented by import depth)",
    ]
    for e in sorted(entries, key=lambda e: -e.cumulative_us)[:top]:
        lines.append(
            f"{e.cumulative_us / 1000:13.1f} {e.self_us / 1000:8.1f}  {'  ' * e.depth}{e.module}"
        )
    lines.append("")
    lines.append("Top-level imports of this phase (what the code asked for):")
    for e in sorted(roots, key=lambda e: -e.cumulative_us)[:top]:
        lines.append(f"{e.cumulative_us / 1000:13.1f}           {e.module}")
    return "\n".join(lines) + "\n"


def wrapper(log: Path) -> Path:
    """An interpreter that is the runtime's with -X importtime, stderr into ``log``
    (local.runtime.Worker takes the interpreter to run, not its flags)."""
    script = OUT_DIR / "python-importtime"
    script.write_text(
        f'#!/bin/sh\nexec "{RUNTIME_PYTHON}" -X importtime "$@" 2>>"{log}"\n', encoding="utf-8"
    )
    script.chmod(0o755)
    return script


def run(program: Program, import_only: bool, event: dict | None = None) -> tuple[str, str]:
    log = OUT_DIR / f"importtime-{program.label.replace(':', '-')}.log"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    python = wrapper(log)
    with program.worker(python=python) as worker:
        init = worker.init
        if not init.ok:
            raise SystemExit(f"init failed:\n{init.traceback}")
        with log.open("a", encoding="utf-8") as mark:
            mark.write(MARK)
        if not import_only:
            from bench.__main__ import cold_event

            invocation = worker.invoke(event or cold_event(program.label, 0))
            if not invocation.ok:
                raise SystemExit(f"first event failed: {invocation.error_message}")
    text = log.read_text(encoding="utf-8")
    before, _, after = text.partition(MARK)
    return before, after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.importtime", description=__doc__)
    parser.add_argument("logical_id", choices=list(FUNCTIONS))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--baseline", action="store_true", help="profile the baseline instead")
    parser.add_argument("--import-only", action="store_true", help="skip the first event")
    args = parser.parse_args(argv)
    check_build()
    build_baselines()
    with LocalPipeline(functions=[args.logical_id], start_workers=False) as stack:
        spec = stack.specs[args.logical_id]
        env = {args.logical_id: stack.local_env(spec)}
        program = next(
            p for p in programs({args.logical_id: spec}, env) if p.baseline == args.baseline
        )
        init_text, event_text = run(program, args.import_only)
    init = handler_block(parse(init_text))
    first = parse(event_text)
    # The interpreter's own start-up imports (encodings, site, ...) come before the worker's.
    print(f"# {program.label}: python -X importtime (runtime venv, as the bench runs it)\n")
    print(report("import of the handler module (init)", init, args.top))
    if not args.import_only:
        print(report("first event (lazy imports)", first, args.top))
    together = sum(e.cumulative_us for e in init + first if e.depth == 0) / 1000
    print(f"Total top-level import time, init + first event: {together:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
