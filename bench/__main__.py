"""make bench: every built function against its baseline, in one interleaved run, then the storm.

    python -m bench [--reps 15] [--events 1000] [--no-storm]

Programs: each built function (``.aws-sam/build``), its baseline (``bench/baselines``: stdlib
json + urllib + boto3, the smallest honest version of the same job) and diagnostic variants
(``runner.VARIANTS``, e.g. the Slack relay with idempotency off), all run by local.runtime's
worker in the boto3-only runtime venv against moto and the loopback Slack, with the function's
environment from template.yaml and one recipient per channel (one email, one SMS).

(a) Cold init: a fresh interpreter imports the handler (import, timed inside the worker) and
    handles its first event (first event); cold init = import + first event. ``--reps`` each,
    the programs taking turns and the order rotating every round, so a slow moment of the
    machine hits function and baseline alike. Medians and quartiles.
(b) Warm: one worker per program handles a first event (not counted), then ``--events`` events
    (distinct MessageIds, flapping alarms) in blocks of 100, the programs taking turns block by
    block. p50/p95, and the AWS requests each event made (counted at moto, per program).
(c) Peak memory: the worker's VmHWM (= ru_maxrss) after its first event and after the warm run.
Sizes: each build dir zipped (deflate, in memory) and unzipped, bytecode included as deployed.
Targets (issue 6) are ratios to the baseline of the same run. Results: a markdown table on
stdout and bench/out/results.json (not committed). Exit status 1 when a target is missed or a
storm check fails, so the budget is enforced like a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import (
    ALL_FUNCTIONS,
    BASELINED,
    BUILD_DIR,
    FUNCTIONS,
    OUT_DIR,
    events,
    server,
    sizes,
    stats,
)
from bench.runner import (
    ONCE_ONLY_OFF,
    QUIET_STATE_OFF,
    Program,
    build_baselines,
    check_build,
    peak_rss_kib,
    programs,
)
from bench.server import caller_key
from local.pipeline import LocalPipeline

BLOCK = 100  # warm events per turn
LAYER_ZIPPED_MAX = 2_500_000  # bytes (2.5 MB)
FUNCTION_CODE_MAX = 50_000  # bytes, unzipped (< 50 KB)
COLD_RATIO_MAX = 1.2  # issue 9: every function, the Slack relay included
WARM_RATIO_MAX = 1.2
WARM_TARGET = "SlackRelayFunction"  # issue 6: the warm budget is the Slack relay's


def cold_event(label: str, rep: int) -> dict[str, Any]:
    """A first event: an ALARM of an alarm nobody has seen (opens an incident), new MessageId."""
    note = events.Note(
        message_id=str(uuid.uuid4()),
        alarm_name=f"OTT-DB-Cold-{rep:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', label)}",
        state="ALARM",
        previous_state="OK",
        at=datetime(2024, 2, 1, tzinfo=UTC) + timedelta(minutes=rep),
        seq=rep,
    )
    return events.sns_event(note, rep)


def measure_cold(progs: list[Program], reps: int) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {
        p.label: {"import_ms": [], "first_event_ms": [], "cold_ms": [], "ready_ms": [], "rss": []}
        for p in progs
    }
    for rep in range(reps):
        shift = rep % len(progs)
        for program in progs[shift:] + progs[:shift]:
            event = cold_event(program.label, rep)
            with program.worker() as worker:
                init = worker.init
                if not init.ok:
                    raise SystemExit(f"{program.label}: init failed\n{init.traceback}")
                invocation = worker.invoke(event)
                if not invocation.ok:
                    raise SystemExit(
                        f"{program.label}: first event failed: {invocation.error_type}: "
                        f"{invocation.error_message}\n{invocation.traceback}"
                    )
                rss = peak_rss_kib(worker)
            s = samples[program.label]
            s["import_ms"].append(init.init_ms)
            s["first_event_ms"].append(invocation.duration_ms)
            s["cold_ms"].append(init.init_ms + invocation.duration_ms)
            s["ready_ms"].append(init.startup_ms)
            s["rss"].append(rss)
        print(f"  cold round {rep + 1}/{reps}", file=sys.stderr, flush=True)
    return samples


def measure_warm(
    progs: list[Program], count: int, stack: LocalPipeline, counter: server.RequestCounter
) -> dict[str, dict[str, Any]]:
    notes = events.flapping(count, alarms=10, seed=6)
    batch = [events.sns_event(note, events.alarm_index(note)) for note in notes]
    results: dict[str, dict[str, Any]] = {}
    workers = {}
    try:
        for program in progs:
            worker = program.worker()
            workers[program.label] = worker
            first = worker.invoke(cold_event(program.label, 99))  # not counted: the cold one
            if not first.ok:
                raise SystemExit(f"{program.label}: {first.error_type}: {first.error_message}")
            results[program.label] = {"ms": [], "slack_posts": 0}
        # Requests of the warm events only: what each program's key made from here on.
        before = {p.label: counter.by_operation(caller_key(p.label)) for p in progs}
        for start in range(0, count, BLOCK):
            for program in progs:
                worker = workers[program.label]
                stack.slack.take()
                for event in batch[start : start + BLOCK]:
                    invocation = worker.invoke(event)
                    if not invocation.ok:
                        raise SystemExit(
                            f"{program.label}: {invocation.error_type}: {invocation.error_message}"
                        )
                    results[program.label]["ms"].append(invocation.duration_ms)
                results[program.label]["slack_posts"] += len(stack.slack.take())
            print(f"  warm {start + BLOCK}/{count}", file=sys.stderr, flush=True)
        for program in progs:
            results[program.label]["rss"] = peak_rss_kib(workers[program.label])
            made = counter.by_operation(caller_key(program.label)) - before[program.label]
            results[program.label]["requests"] = sum(made.values())
            results[program.label]["requests_by_operation"] = dict(made.most_common())
    finally:
        for worker in workers.values():
            worker.close()
    return results


def measure_sizes() -> dict[str, Any]:
    layer = sizes.measure(BUILD_DIR / "SharedLayer")
    return {
        "layer": layer.__dict__,
        "layer_source_only": sizes.measure(BUILD_DIR / "SharedLayer", bytecode=False).__dict__,
        "layer_largest": sizes.largest(BUILD_DIR / "SharedLayer" / "python"),
        "functions": {lid: sizes.measure(BUILD_DIR / lid).__dict__ for lid in ALL_FUNCTIONS},
    }


def ratio(value: float, base: float) -> float:
    return value / base if base else float("inf")


def analyse(
    progs: list[Program], cold: dict[str, Any], warm: dict[str, Any], size: dict[str, Any]
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for program in progs:
        c = cold.get(program.label)
        w = warm[program.label]
        base_cold = None if program.baseline else cold.get(program.baseline_label)
        rows[program.label] = {
            # Median of per-round ratios to the baseline (stats.paired_ratio): the budget's number.
            "cold_ratio": (
                stats.paired_ratio(c["cold_ms"], base_cold["cold_ms"]) if c and base_cold else None
            ),
            "baseline": None if program.baseline else program.baseline_label,
            "cold_ms": stats.summary(c["cold_ms"]) if c else None,
            "import_ms": stats.summary(c["import_ms"]) if c else None,
            "first_event_ms": stats.summary(c["first_event_ms"]) if c else None,
            "ready_ms": stats.summary(c["ready_ms"]) if c else None,
            "cold_rss_kib": stats.median(c["rss"]) if c else None,
            "warm_ms": stats.latency(w["ms"]),
            "warm_requests_per_event": w["requests"] / len(w["ms"]),
            "warm_slack_posts": w["slack_posts"],
            "warm_rss_kib": w["rss"],
        }
    targets = [cold_target(lid, rows) for lid in BASELINED]
    if WARM_TARGET in BASELINED:
        fn, base = rows[WARM_TARGET], rows[f"baseline:{WARM_TARGET}"]
        r = ratio(fn["warm_ms"]["p50"], base["warm_ms"]["p50"])
        targets.append(
            {
                "target": f"{WARM_TARGET} warm p50 <= {WARM_RATIO_MAX}x baseline",
                "value": f"{r:.2f}x ({fn['warm_ms']['p50']:.2f} / {base['warm_ms']['p50']:.2f} ms)",
                "ok": r <= WARM_RATIO_MAX,
            }
        )
    zipped = size["layer"]["zipped"]
    targets.append(
        {
            "target": "SharedLayer <= 2.5 MB zipped",
            "value": f"{zipped / 1e6:.2f} MB",
            "ok": zipped <= LAYER_ZIPPED_MAX,
        }
    )
    for lid in ALL_FUNCTIONS:
        own = size["functions"][lid]["unzipped"]
        targets.append(
            {
                "target": f"{lid} own code < 50 KB",
                "value": f"{own / 1e3:.1f} KB unzipped",
                "ok": own < FUNCTION_CODE_MAX,
            }
        )
    diagnostics = []
    for program in progs:
        if program.baseline and program.variant:
            fn, base = rows[program.logical_id], rows[program.label]
            diagnostics.append(
                {
                    "compare": f"{program.logical_id} / {program.label}",
                    "cold_ratio": stats.paired_ratio(
                        cold[program.logical_id]["cold_ms"], cold[program.label]["cold_ms"]
                    ),
                    "warm_p50_ratio": ratio(fn["warm_ms"]["p50"], base["warm_ms"]["p50"]),
                }
            )
    return {
        "programs": rows,
        "targets": targets,
        "diagnostics": diagnostics,
        "once_only_price": once_only_prices(rows),
        "not_measured": not_measured(),
    }


def cold_target(lid: str, rows: dict[str, Any]) -> dict[str, Any]:
    """Cold init <= 1.2x the baseline (per-round paired ratio). A function that delivers once
    only may exceed it by exactly that guarantee's price: then it passes only if, with once-only
    delivery off, it is within 1.2x, and the row says so with both numbers."""
    row = rows[lid]
    fn, base = row["cold_ms"]["median"], rows[f"baseline:{lid}"]["cold_ms"]["median"]
    r = row["cold_ratio"]
    target = {
        "target": f"{lid} cold init <= {COLD_RATIO_MAX}x baseline",
        "value": f"{r:.2f}x (medians {fn:.0f} / {base:.0f} ms)",
        "ok": r <= COLD_RATIO_MAX,
    }
    off = rows.get(f"{lid} ({ONCE_ONLY_OFF[0]})")
    if not target["ok"] and off and off["cold_ratio"] is not None:
        target["value"] += (
            f"; once-only off {off['cold_ratio']:.2f}x: once-only delivery costs "
            f"{fn - off['cold_ms']['median']:.0f} ms of it"
        )
        target["ok"] = off["cold_ratio"] <= COLD_RATIO_MAX
        target["once_only_apart"] = True
    quiet = rows.get(f"{lid} ({QUIET_STATE_OFF[0]})")
    if not target["ok"] and quiet and quiet["cold_ratio"] is not None:
        # Reported, not excused: the quiet state is a feature's price, not once-only delivery's.
        target["value"] += (
            f"; quiet state off {quiet['cold_ratio']:.2f}x: silences and flapping control cost "
            f"{fn - quiet['cold_ms']['median']:.0f} ms of it"
        )
    return target


def once_only_prices(rows: dict[str, Any]) -> dict[str, dict[str, float]]:
    """What once-only delivery costs each function that has it: cold and warm p50, in ms
    (the function minus the same function with Powertools idempotency off)."""
    out = {}
    for label, row in rows.items():
        if not label.endswith(f"({ONCE_ONLY_OFF[0]})") or row["baseline"] is None:
            continue
        lid = label.split(" (")[0]
        fn = rows[lid]
        out[lid] = {
            "cold_ms": fn["cold_ms"]["median"] - row["cold_ms"]["median"],
            "warm_p50_ms": fn["warm_ms"]["p50"] - row["warm_ms"]["p50"],
        }
    return out


def not_measured() -> dict[str, str]:
    """Functions of the template without a cold-start budget here, and why."""
    out = {}
    for lid in ALL_FUNCTIONS:
        if lid not in FUNCTIONS:
            out[lid] = "not invoked by the topic (the bench's events are SNS notifications)"
        elif lid not in BASELINED:
            out[lid] = f"no baseline in bench/baselines/{FUNCTIONS[lid]}/"
    return out


def table(result: dict[str, Any], reps: int, count: int) -> str:
    rows = result["programs"]
    lines = [
        f"### Cold init ({reps} fresh processes each, median [IQR], ms) and warm ({count} events)",
        "",
        "Cold ratio: the median of the per-round ratios to the baseline (both ran in the same "
        "round); warm ratio: of the p50s.",
        "",
        "| program | cold init | import | first event | ratio | warm p50 | warm p95 | warm ratio "
        "| AWS req/event | peak RSS cold / warm |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(s: dict[str, float] | None) -> str:
        return f"{s['median']:.0f} [{s['q1']:.0f}–{s['q3']:.0f}]" if s else "(warm only)"

    for label, row in rows.items():
        base = rows.get(row["baseline"]) if row["baseline"] else None
        cold_ratio = warm_ratio = ""
        if row["cold_ratio"] is not None:
            cold_ratio = f"**{row['cold_ratio']:.2f}x**"
        if base:
            warm_ratio = f"{ratio(row['warm_ms']['p50'], base['warm_ms']['p50']):.2f}x"
        cold_rss = f"{row['cold_rss_kib'] / 1024:.1f}" if row["cold_rss_kib"] else "-"
        lines.append(
            f"| {label} | {cell(row['cold_ms'])} | {cell(row['import_ms'])} "
            f"| {cell(row['first_event_ms'])} | {cold_ratio} | {row['warm_ms']['p50']:.2f} "
            f"| {row['warm_ms']['p95']:.2f} | {warm_ratio} "
            f"| {row['warm_requests_per_event']:.2f} "
            f"| {cold_rss} / {row['warm_rss_kib'] / 1024:.1f} MiB |"
        )
    size = result["sizes"]
    lines += [
        "",
        "### Sizes (build dirs as deployed, precompiled bytecode included)",
        "",
        "| artifact | files | unzipped | zipped |",
        "|---|---|---|---|",
    ]
    artifacts = {
        "SharedLayer": size["layer"],
        "SharedLayer (without __pycache__)": size["layer_source_only"],
    }
    artifacts.update(size["functions"])
    for name, s in artifacts.items():
        unzipped, zipped = s["unzipped"] / 1e3, s["zipped"] / 1e3
        lines.append(f"| {name} | {s['files']} | {unzipped:,.1f} KB | {zipped:,.1f} KB |")
    lines.append("")
    lines.append(
        "Largest in the layer (unzipped): "
        + ", ".join(f"{name} {b / 1e3:,.0f} KB" for name, b in size["layer_largest"])
    )
    if result["diagnostics"]:
        lines += ["", "Against a baseline that also delivers once only (diagnostic):"]
        for d in result["diagnostics"]:
            lines.append(
                f"- {d['compare']}: cold init {d['cold_ratio']:.2f}x, "
                f"warm p50 {d['warm_p50_ratio']:.2f}x"
            )
    if result["once_only_price"]:
        lines += ["", "What once-only delivery costs (the function minus itself with it off):"]
    for lid, price in result["once_only_price"].items():
        lines.append(
            f"- {lid}: once-only delivery (Powertools idempotency: a DynamoDB client, then a claim "
            f"and a completion write per delivery) costs {price['cold_ms']:.0f} ms of its cold "
            f"init and {price['warm_p50_ms']:.2f} ms of its warm p50"
        )
    if result["not_measured"]:
        lines += ["", "Not measured against a baseline:"]
    for lid, why in result["not_measured"].items():
        lines.append(f"- {lid}: {why}")
    lines += ["", "### Targets", "", "| target | value | |", "|---|---|---|"]
    for t in result["targets"]:
        verdict = "FAIL"
        if t["ok"]:
            verdict = "PASS (once-only apart)" if t.get("once_only_apart") else "PASS"
        lines.append(f"| {t['target']} | {t['value']} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="cold starts per program")
    parser.add_argument("--events", type=int, default=1000, help="warm events per program")
    parser.add_argument("--no-storm", action="store_true", help="skip python -m bench.storm")
    args = parser.parse_args(argv)

    check_build()
    build_baselines()
    began = time.perf_counter()
    phases: dict[str, float] = {}
    # One recipient per channel: per-event numbers then read as "one email + one SMS".
    parameters = {"EmailRecipients": "dba-oncall@ott.example.com", "SmsRecipients": "+821012345678"}
    with LocalPipeline(parameters, functions=FUNCTIONS, start_workers=False) as stack:
        counter = server.install(stack.aws)
        env_of = {lid: stack.local_env(spec) for lid, spec in stack.specs.items()}
        progs = programs(stack.specs, env_of, variants_too=True)
        print(f"cold: {args.reps} rounds of {len(progs)} programs", file=sys.stderr)
        cold = measure_cold([p for p in progs if p.cold], args.reps)
        phases["cold"] = time.perf_counter() - began
        print(f"warm: {args.events} events per program", file=sys.stderr)
        warm = measure_warm(progs, args.events, stack, counter)
        phases["warm"] = time.perf_counter() - began - phases["cold"]
    size = measure_sizes()
    result = analyse(progs, cold, warm, size)
    result.update(
        sizes=size,
        raw={"cold": cold, "warm_ms": {k: v["ms"] for k, v in warm.items()}},
        warm_requests_by_operation={k: v["requests_by_operation"] for k, v in warm.items()},
        settings={"reps": args.reps, "events": args.events, "block": BLOCK},
        machine={
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - began, 1),
            "phase_seconds": {k: round(v, 1) for k, v in phases.items()},
        },
    )
    print(table(result, args.reps, args.events))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {OUT_DIR / 'results.json'} ({result['machine']['seconds']} s)")
    failed = [t for t in result["targets"] if not t["ok"]]
    if not args.no_storm:
        from bench import storm

        storm_began = time.perf_counter()
        if storm.main([]) != 0:
            failed.append({"target": "storm"})
        print(f"(storm {time.perf_counter() - storm_began:.0f} s)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
