"""What each piece of a cold start costs, in real milliseconds: the marginal cost of each step.

    python -m bench.marginal [<LogicalId> ...] [--reps 9]

A fresh runtime interpreter (boto3 only, the function's build dir and the layer on sys.path, as
the bench runs it) takes the steps below in order and times each; ``--reps`` fresh processes,
median per step. A step costs only what the steps before it have not already loaded, so the
order is the question asked: first what the baseline does too (stdlib HTTP + JSON, boto3 and the
baseline's clients), then what the function adds on top, piece by piece. No requests are made.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from bench import BUILD_DIR, FUNCTIONS
from local.aws import Template
from local.runtime import RUNTIME_PYTHON, lambda_environment

_COMMON_BASE = [
    ("stdlib json + urllib.request + datetime", "import json, urllib.request, datetime"),
    ("import boto3", "import boto3"),
]
_POWERTOOLS = [
    ("Powertools Logger", "from aws_lambda_powertools import Logger; Logger()"),
    ("Powertools Metrics", "from aws_lambda_powertools import Metrics; Metrics()"),
]
_IDEMPOTENCY = [
    ("Powertools idempotency utility", "import aws_lambda_powertools.utilities.idempotency"),
    ("boto3 client dynamodb (idempotency store), same session", "boto3.client('dynamodb')"),
]


def _own_sessions(*services: str) -> tuple[str, str]:
    """alert_service.clients makes a boto3 Session per service. The first stands in for the one
    session the baseline uses; each further one loads its loader, endpoint data, credentials and
    service model again: what that adds over one shared session."""
    code = "; ".join(f"boto3.session.Session().client({s!r})" for s in services[1:])
    return (f"a Session per client: {len(services) - 1} more session(s) than one shared", code)


STEPS = {
    "SlackRelayFunction": [
        *_COMMON_BASE,
        ("boto3 client secretsmanager", "boto3.client('secretsmanager')"),
        ("-- baseline above, function below --", ""),
        *_POWERTOOLS,
        (
            "alert_service parse/view/render/config",
            "import alert_service.parse, alert_service.view, alert_service.render.slack, "
            "alert_service.config",
        ),
        ("urllib3 + certifi (the Slack POST; boto3 loaded urllib3)", "import urllib3, certifi"),
        (
            "alert_service.channels.slack + secrets",
            "import alert_service.channels.slack, alert_service.secrets",
        ),
        ("Powertools parameters (secrets)", "import aws_lambda_powertools.utilities.parameters"),
        *_IDEMPOTENCY,
        _own_sessions("secretsmanager", "dynamodb"),
        ("rest of app.py", "import app"),
    ],
    "NotifyFanoutFunction": [
        *_COMMON_BASE,
        ("boto3 client sesv2", "boto3.client('sesv2')"),
        ("boto3 client sns", "boto3.client('sns')"),
        ("-- baseline above, function below --", ""),
        *_POWERTOOLS,
        (
            "alert_service parse/view/render email+sms/config",
            "import alert_service.parse, alert_service.view, alert_service.render.email, "
            "alert_service.render.sms, alert_service.config",
        ),
        *_IDEMPOTENCY,
        _own_sessions("sesv2", "sns", "dynamodb"),
        ("rest of app.py", "import app"),
    ],
    "AlarmHistoryFunction": [
        *_COMMON_BASE,
        ("boto3 client dynamodb", "boto3.client('dynamodb')"),
        ("-- baseline above, function below --", ""),
        *_POWERTOOLS,
        ("alert_service parse/config", "import alert_service.parse, alert_service.config"),
        ("alert_service incidents/history", "import alert_service.incidents"),
        ("boto3.dynamodb.types (serializer)", "import boto3.dynamodb.types"),
        ("rest of app.py", "import app"),
    ],
}

_SCRIPT = """
import json, sys, time
sys.path[:0] = {paths!r}
steps = {steps!r}
out = []
for label, code in steps:
    start = time.perf_counter()
    exec(code, globals())
    out.append((time.perf_counter() - start) * 1000)
print(json.dumps(out))
"""


def measure(logical_id: str, reps: int) -> list[tuple[str, float, float, float]]:
    spec = Template().function(logical_id)
    paths = [
        str(BUILD_DIR / logical_id),
        *(str(BUILD_DIR / layer / "python") for layer in spec.layers),
    ]
    env = lambda_environment(
        spec,
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # never contacted: no step sends a request
            "POWERTOOLS_METRICS_NAMESPACE": "AlertService",
        },
    )
    steps = STEPS[logical_id]
    script = _SCRIPT.format(paths=paths, steps=steps)
    runs = []
    for _ in range(reps):
        done = subprocess.run(
            [str(RUNTIME_PYTHON), "-I", "-B", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd="/tmp",
            check=False,
        )
        if done.returncode:
            raise SystemExit(done.stderr)
        runs.append(json.loads(done.stdout))
    rows = []
    for n, (label, _) in enumerate(steps):
        values = [run[n] for run in runs]
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        rows.append((label, statistics.median(values), q1, q3))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.marginal", description=__doc__)
    parser.add_argument("logical_ids", nargs="*", metavar="LogicalId", help=", ".join(STEPS))
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args(argv)
    unknown = set(args.logical_ids) - set(STEPS)
    if unknown:
        parser.error(f"no steps written for: {', '.join(sorted(unknown))} (see STEPS)")
    for logical_id in args.logical_ids or [lid for lid in FUNCTIONS if lid in STEPS]:
        print(f"\n### {logical_id}: marginal cold-start cost per step (median of {args.reps})\n")
        print("| step | ms | IQR |")
        print("|---|---|---|")
        baseline = function = 0.0
        below = False
        for label, median, q1, q3 in measure(logical_id, args.reps):
            if label.startswith("--"):
                below = True
                continue
            if below:
                function += median
            else:
                baseline += median
            print(f"| {label} | {median:.1f} | {q1:.1f}–{q3:.1f} |")
        print(f"\nbaseline steps {baseline:.0f} ms; the function adds {function:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
