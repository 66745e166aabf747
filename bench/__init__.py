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


def _functions() -> dict[str, str]:
    """Every function of template.yaml that the topic invokes (the bench's events are SNS
    notifications): logical id -> its folder name (CodeUri's last part), in template order."""
    from local.aws import Template

    template = Template()
    return {
        spec.logical_id: Path(
            str(template.resources[spec.logical_id]["Properties"]["CodeUri"])
        ).name
        for spec in template.functions()
        if spec.subscriptions
    }


def _all_functions() -> list[str]:
    from local.aws import Template

    return [spec.logical_id for spec in Template().functions()]


# Logical id -> the function's (and its baseline's) directory name: read from the template, so a
# function added there is benchmarked, or named as missing a baseline (bench/baselines/<name>/).
FUNCTIONS = _functions()
# The functions with a baseline to be measured against.
BASELINED = {lid: name for lid, name in FUNCTIONS.items() if (BASELINES_DIR / name).is_dir()}
# Every function of the template (sizes are measured for all of them).
ALL_FUNCTIONS = _all_functions()
