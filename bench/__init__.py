"""Benchmarks (issue 6): cold start, warm latency, memory and size of each built function against a
baseline of the same job, and an alarm storm through the local pipeline.

    python -m bench            # everything (make bench)
    python -m bench.storm      # the storm alone
    python -m bench.importtime SlackRelayFunction   # where a cold start's import time goes
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# BENCH_BUILD_DIR: measure another build (e.g. one made with `sam build --build-dir`).
BUILD_DIR = Path(os.environ.get("BENCH_BUILD_DIR") or ROOT / ".aws-sam" / "build")
OUT_DIR = Path(__file__).resolve().parent / "out"
BASELINES_DIR = Path(__file__).resolve().parent / "baselines"

# Logical id -> the function's (and its baseline's) directory name.
FUNCTIONS = {
    "SlackRelayFunction": "slack_relay",
    "NotifyFanoutFunction": "notify_fanout",
    "AlarmHistoryFunction": "alarm_history",
}
