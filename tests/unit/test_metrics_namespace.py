"""A function run with only CONTRACT.md's variables must not fail at the metrics flush."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def test_handlers_count_without_a_configured_namespace() -> None:
    # A fresh interpreter: the package sets the default when first imported, as in Lambda.
    code = """
import sys
sys.path[:0] = [sys.argv[1]]
import alert_service
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
metrics = Metrics()
@metrics.log_metrics
def handler(event, context):
    metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=1)
handler({}, None)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, str(ROOT / "layers" / "shared")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"Namespace":"AlertService"' in done.stdout
