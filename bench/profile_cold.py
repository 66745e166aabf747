"""Where a cold start's time goes, all of it (imports, client creation, requests): cProfile.

    python -m bench.profile_cold SlackRelayFunction [--baseline] [--top 30]

Runs local.runtime's worker under ``python -m cProfile`` (same runtime venv, same endpoints as the
bench), through the handler's import and its first event, then prints (1) own time grouped by the
package the code belongs to (botocore, aws_lambda_powertools, importlib's loading, socket waits...)
and (2) the slowest calls by cumulative time. cProfile slows Python code down by roughly 1.5-2x,
so read it for proportions, and the bench for the real numbers.
"""

from __future__ import annotations

import argparse
import pstats
import sys
from collections import Counter
from pathlib import Path

from bench import FUNCTIONS, OUT_DIR, events
from bench.__main__ import cold_event
from bench.runner import build_baselines, check_build, programs
from local.pipeline import LocalPipeline
from local.runtime import RUNTIME_PYTHON

_BUILTINS = {
    "<built-in method marshal.loads>": "import: unmarshal .pyc",
    "<built-in method builtins.compile>": "import: compile source (no .pyc)",
    "<built-in method posix.stat>": "import: stat (path search)",
    "<built-in method posix.listdir>": "import: listdir (path search)",
    "<built-in method _imp.create_dynamic>": "import: load C extension",
    "<method 'recv_into' of '_socket.socket' objects>": "waiting for responses (socket)",
    "<method 'connect' of '_socket.socket' objects>": "waiting for connect (socket)",
    "<built-in method builtins.__build_class__>": "class bodies (module execution)",
}
# (file name ending, function): what the cold start spends its time on, by cause.
KEY_CALLS = (
    ("<frozen importlib._bootstrap>", "_find_and_load", "all imports"),
    ("botocore/session.py", "create_client", "boto3/botocore client creation"),
    ("botocore/loaders.py", "load_service_model", "… loading service models (JSON)"),
    ("botocore/endpoint.py", "_send", "AWS HTTP round trips"),
    ("urllib3/poolmanager.py", "urlopen", "urllib3 PoolManager: HTTP round trips (Slack)"),
    ("urllib/request.py", "urlopen", "urllib: HTTP round trips (baseline Slack)"),
    ("idempotency/base.py", "handle", "Powertools idempotency: handle"),
    ("persistence/dynamodb.py", "__init__", "Powertools DynamoDBPersistenceLayer()"),
    ("json/decoder.py", "raw_decode", "json decoding (all)"),
    ("re/_compiler.py", "compile", "regex compilation (all)"),
    ("logging/__init__.py", "_log", "log records (Powertools Logger on stdlib logging)"),
    ("logging/formatter.py", "format", "… Powertools JSON formatting"),
    ("cloudwatch_emf/cloudwatch.py", "flush_metrics", "Powertools Metrics flush (EMF)"),
    ("alert_service/parse.py", "notifications", "alert_service: parse"),
    ("alert_service/view.py", "build_view", "alert_service: build_view"),
    ("render/slack.py", "render", "alert_service: Slack layout"),
    ("channels/slack.py", "post", "alert_service: Slack webhook post (urllib3)"),
    ("alert_service/delivery.py", "deliver_once", "alert_service: deliver_once (idempotency)"),
    ("alert_service/incidents.py", "record", "alert_service: incidents.record"),
    ("zoneinfo/_common.py", "load_data", "zoneinfo load"),
)


def key_calls(stats: pstats.Stats) -> list[tuple[str, int, float]]:
    out = []
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for suffix, function, label in KEY_CALLS:
        calls = cumulative = 0.0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in entries:
            if name == function and filename.endswith(suffix):
                calls += nc
                cumulative += ct
        if calls:
            out.append((label, int(calls), cumulative))
    return out


def group_of(filename: str, function: str) -> str:
    if filename == "~":
        return _BUILTINS.get(function, "other built-ins")
    if filename.startswith("<frozen importlib"):
        return "import machinery (find, load, exec)"
    path = Path(filename)
    parts = path.parts
    for anchor in ("site-packages", "python"):  # runtime venv, or the layer's python/
        if anchor in parts:
            rest = parts[parts.index(anchor) + 1 :]
            if rest:
                return rest[0].removesuffix(".py")
    if "lib" in parts and "python3.11" in parts:
        return "stdlib: " + parts[parts.index("python3.11") + 1].removesuffix(".py")
    return path.parent.name + "/" + path.name


def wrapper(stats_file: Path) -> Path:
    """The runtime interpreter, running its script under cProfile (local.runtime.Worker takes the
    interpreter to run, not its flags); the interpreter's own flags (-I -B) are kept."""
    script = OUT_DIR / "python-cprofile"
    script.write_text(
        "#!/bin/sh\n"
        'flags=""\n'
        'while [ "${1#-}" != "$1" ]; do flags="$flags $1"; shift; done\n'
        f'exec "{RUNTIME_PYTHON}" $flags -m cProfile -o "{stats_file}" "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_cold", description=__doc__)
    parser.add_argument("logical_id", choices=list(FUNCTIONS))
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--variant", help="a diagnostic variant, e.g. 'idempotency off'")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--events", type=int, default=0, help="warm events after the first (profiles the warm path)"
    )
    args = parser.parse_args(argv)
    check_build()
    build_baselines()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stats_file = OUT_DIR / f"cprofile-{args.logical_id}{'-baseline' if args.baseline else ''}.prof"
    stats_file.unlink(missing_ok=True)
    with LocalPipeline(functions=[args.logical_id], start_workers=False) as stack:
        spec = stack.specs[args.logical_id]
        program = next(
            p
            for p in programs(
                {args.logical_id: spec}, {args.logical_id: stack.local_env(spec)}, variants_too=True
            )
            if p.baseline == args.baseline and p.variant == (args.variant or "")
        )
        with program.worker(python=wrapper(stats_file)) as worker:
            if not worker.init.ok:
                raise SystemExit(worker.init.traceback)
            invocation = worker.invoke(cold_event(program.label, 0))
            if not invocation.ok:
                raise SystemExit(f"{invocation.error_type}: {invocation.error_message}")
            notes = events.flapping(args.events, alarms=10, seed=7)
            for note in notes:
                invocation = worker.invoke(events.sns_event(note, events.alarm_index(note)))
                if not invocation.ok:
                    raise SystemExit(f"{invocation.error_type}: {invocation.error_message}")
    stats = pstats.Stats(str(stats_file))
    groups: Counter[str] = Counter()
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in entries:
        groups[group_of(filename, function)] += tottime
    total = sum(groups.values())
    what = "init + first event" + (f" + {args.events} warm events" if args.events else "")
    print(f"# {program.label}: cProfile of {what} ({total * 1000:.0f} ms profiled)\n")
    print("## Own time by package\n")
    for name, seconds in groups.most_common(args.top):
        print(f"{seconds * 1000:9.1f} ms  {seconds / total:5.1%}  {name}")
    print("\n## Key calls (cumulative ms, calls)\n")
    per = max(1, args.events)
    print("(with --events: the last column is per warm event, first event included)\n")
    for label, calls, cumulative in key_calls(stats):
        print(
            f"{cumulative * 1000:9.1f} ms  {calls:6d}  {label:55s} {cumulative * 1000 / per:7.3f}"
        )
    print("\n## Slowest calls (cumulative)\n")
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
