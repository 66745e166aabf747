"""What routing costs: 50 rules, per notification, and loading the file at cold start.

    python -m bench.routing [--rules 50] [--notifications 20000]

(a) route(): a notification against a 50-rule table, three cases: the first rule matches, the
    last one matches after 49 misses, and no rule matches (all 50 tried, default route). Every
    rule has an alarm-name glob, a namespace and a dimension glob (the costly kinds). Per call
    p50/p95 in microseconds. Budget: p95 under ``BUDGET_US`` in every case (exit 1 if missed).
(b) Loading: the 50-rule file as the layer reads it (JSON: parse + check + compile) and as the
    build and tests read it (YAML with line numbers), median of a few runs.
(c) Import: ``import alert_service.routing`` in a fresh interpreter after what every handler
    already imports (alert_service.view), and ``import yaml`` (what PyYAML in the layer would add).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "shared"))

from alert_service import parse, routing  # noqa: E402
from alert_service.routing.loader import parse_text  # noqa: E402

BUDGET_US = 250.0  # "well under a millisecond" a notification, with room for a busy machine


def rules_yaml(count: int) -> str:
    """``count`` rules in the shape of routing.yaml: one per team, globs everywhere."""
    lines = ["version: 1", "rules:"]
    for index in range(count):
        lines += [
            f"  - name: team-{index}",
            "    match:",
            f'      alarm_name: ["TEAM{index}-*-High", "TEAM{index}-*-Low"]',
            "      namespace: [AWS/RDS, AWS/EC2]",
            "      dimensions:",
            f'        DBClusterIdentifier: "team{index}-*"',
            "      state: [ALARM, OK]",
            f"    slack_webhooks: [team{index}]",
            f"    email: [team{index}@example.com]",
            f"    continue: {'true' if index % 10 == 9 else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def timed_calls(call, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Microseconds per call, measured in batches of 100 (a single call is below the clock)."""
    samples = []
    for _ in range(max(1, count // 100)):
        start = time.perf_counter_ns()
        for _ in range(100):
            call()
        samples.append((time.perf_counter_ns() - start) / 100 / 1000)
    return samples


def import_ms(statement: str, before: str = "") -> float:
    """Median milliseconds of ``statement`` in fresh interpreters, after ``before``."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT / 'layers' / 'shared')!r}); {before}\n"
        f"t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    )
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return stats.median(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--notifications", type=int, default=20_000)
    args = parser.parse_args(argv)

    text = rules_yaml(args.rules)
    table = routing.load_text(text, "bench.yaml")
    sample = parse.notifications(
        json.loads((ROOT / "events" / "cpu_alarm.json").read_text(encoding="utf-8"))
    )[0]
    assert sample.alarm is not None
    last = args.rules - 1

    def note(name: str, cluster: str):  # type: ignore[no-untyped-def]
        alarm = replace(sample.alarm, name=name, dimensions=(("DBClusterIdentifier", cluster),))
        return replace(sample, alarm=alarm)

    cases = {
        "first rule matches": note("TEAM0-CPU-High", "team0-aurora"),
        f"rule {args.rules} matches": note(f"TEAM{last}-CPU-High", f"team{last}-aurora"),
        "no rule matches (default)": note("OTT-DB-CPU-Utilization-High", "ott-aurora-cluster"),
    }
    defaults = routing.Defaults(email=("ops@example.com",))
    print(f"routing: {args.rules} rules, {args.notifications} notifications per case\n")
    print("| case | matched | p50 µs | p95 µs |")
    print("|---|---|---|---|")
    missed = False
    for label, notification in cases.items():
        chosen = routing.route(notification, None, table, defaults)
        samples = timed_calls(
            lambda n=notification: routing.route(n, None, table, defaults), args.notifications
        )
        p50, p95 = stats.percentile(samples, 0.5), stats.percentile(samples, 0.95)
        missed |= p95 > BUDGET_US
        print(f"| {label} | {', '.join(chosen.matched) or 'default'} | {p50:.1f} | {p95:.1f} |")

    json_text = json.dumps(parse_text(text, "bench.yaml")[0])
    loads = {
        "JSON (layer: parse + check + compile)": lambda: routing.load_text(json_text, "b.json"),
        "YAML with lines (build, tests)": lambda: routing.load_text(text, "b.yaml"),
    }
    print("\n| loading the file | median ms |\n|---|---|")
    for label, load in loads.items():
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            load()
            runs.append((time.perf_counter() - start) * 1000)
        print(f"| {label} | {stats.median(runs):.2f} |")

    print("\n| import, fresh interpreter | median ms |\n|---|---|")
    print(
        f"| alert_service.routing (after alert_service.view) | "
        f"{import_ms('import alert_service.routing', 'import alert_service.view'):.2f} |"
    )
    print(f"| yaml (PyYAML, if the layer parsed YAML) | {import_ms('import yaml'):.2f} |")
    if missed:
        print(f"\nFAIL: a case's p95 is over the {BUDGET_US:.0f} µs budget", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
