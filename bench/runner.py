"""Programs under measurement and how they run: local.runtime's worker, for functions and
baselines alike.

A built function runs from ``.aws-sam/build/<LogicalId>`` with the layer's ``python/`` behind it;
a baseline from a build dir of its own, a precompiled copy of ``bench/baselines/<name>``, with no
layer. Both get the same environment (the function's
variables from template.yaml plus the local endpoints) and the same fresh runtime interpreter
(``.venv-runtime``: boto3 only), so a ratio compares code, not set-ups.
"""

from __future__ import annotations

import compileall
import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import BASELINED, BASELINES_DIR, BUILD_DIR, FUNCTIONS
from bench.server import caller_key
from local.aws import FunctionSpec
from local.runtime import RUNTIME_PYTHON, Worker

# Outside the repository: generated code, nothing for ruff or git to see.
BASELINE_BUILD_DIR = Path(tempfile.gettempdir()) / "alert-service-bench" / "build"


@dataclass(frozen=True)
class Program:
    """A handler to measure: a built function, or the baseline of one."""

    logical_id: str
    baseline: bool
    spec: FunctionSpec
    build_dir: Path
    env: dict[str, str]  # overrides on top of the template's variables (local endpoints)
    variant: str = ""  # a diagnostic variant of the function, e.g. "idempotency off"
    cold: bool = True  # measured cold too (a warm-only variant keeps make bench short)

    @property
    def label(self) -> str:
        name = f"baseline:{self.logical_id}" if self.baseline else self.logical_id
        return f"{name} ({self.variant})" if self.variant else name

    @property
    def baseline_label(self) -> str:
        return f"baseline:{self.logical_id}"

    def worker(self, python: Path = RUNTIME_PYTHON) -> Worker:
        return Worker(self.spec, self.env, build_dir=self.build_dir, python=python)


def build_baselines() -> Path:
    """Copy each baseline to ``<tmp>/alert-service-bench/build/<LogicalId>``, precompiled as the
    Makefile precompiles the real build (unchecked-hash pycs): neither side compiles at cold start.
    """
    for logical_id, name in BASELINED.items():
        target = BASELINE_BUILD_DIR / logical_id
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(BASELINES_DIR / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(
            target,
            quiet=1,
            invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    return BASELINE_BUILD_DIR


def check_build() -> None:
    missing = [
        str(path)
        for path in (BUILD_DIR / "SharedLayer" / "python", *(BUILD_DIR / f for f in FUNCTIONS))
        if not path.is_dir()
    ]
    if missing:
        raise SystemExit(f"not built: {', '.join(missing)} (run `make build`, or `make bench`)")
    if not RUNTIME_PYTHON.exists():
        raise SystemExit(f"{RUNTIME_PYTHON} is missing (the Makefile's runtime venv)")


# Diagnostic variants, measured beside the real thing: what a feature costs.
# A function that delivers once only (it has the idempotency table) runs once more with Powertools
# idempotency off: no store, no DynamoDB client, no writes (alert_service.delivery), so the
# difference is once-only delivery's price, cold and warm.
ONCE_ONLY_OFF = ("once-only off", False, {"POWERTOOLS_IDEMPOTENCY_DISABLED": "true"}, True)
# A sending function with the history table asks it for the quiet state (silences, flapping;
# silences.gate) before it sends: without the table it sends unheld, so the difference is the price
# of silences and flapping control (a flap-count write and two Queries on the first event).
QUIET_STATE_OFF = ("quiet state off", False, {"HISTORY_TABLE_NAME": ""}, True)
SENDING_FUNCTIONS = frozenset({"SlackRelayFunction", "NotifyFanoutFunction"})
# A baseline variant adds to the baseline what the contract asks and the plain baseline skips
# (by the baseline's folder name; the variant is implemented in its app.py).
BASELINE_VARIANTS = {
    "slack_relay": [("once-only", True, {"BASELINE_ONCE_ONLY": "true"}, True)],
}


def variants(spec: FunctionSpec) -> list[tuple[str, bool, dict[str, str], bool]]:
    """(name, of the baseline?, extra environment, measured cold too?) for one function."""
    out = []
    if "IDEMPOTENCY_TABLE_NAME" in spec.environment:
        out.append(ONCE_ONLY_OFF)
    if spec.logical_id in SENDING_FUNCTIONS and "HISTORY_TABLE_NAME" in spec.environment:
        out.append(QUIET_STATE_OFF)
    if spec.logical_id in BASELINED:
        out += BASELINE_VARIANTS.get(BASELINED[spec.logical_id], [])
    return out


def programs(
    specs: dict[str, FunctionSpec], env_of: dict[str, dict[str, str]], variants_too: bool = False
) -> list[Program]:
    """Function and baseline (if it has one) of each function, in that order, then the diagnostic
    variants."""
    out = []
    for logical_id in (lid for lid in FUNCTIONS if lid in specs):
        spec = specs[logical_id]
        env = env_of[logical_id]
        out.append(Program(logical_id, False, spec, BUILD_DIR, with_caller(env, logical_id)))
        # No layer: the baseline ships its own code and uses the runtime's boto3 only.
        baseline_spec = dataclasses.replace(spec, layers=())
        if logical_id in BASELINED:
            out.append(
                Program(
                    logical_id,
                    True,
                    baseline_spec,
                    BASELINE_BUILD_DIR,
                    with_caller(env, f"baseline:{logical_id}"),
                )
            )
        for name, baseline, extra, cold in variants(spec) if variants_too else []:
            program = Program(
                logical_id,
                baseline,
                baseline_spec if baseline else spec,
                BASELINE_BUILD_DIR if baseline else BUILD_DIR,
                {},
                name,
                cold,
            )
            env_variant = {**with_caller(env, program.label), **extra}
            out.append(dataclasses.replace(program, env=env_variant))
    return out


def with_caller(env: dict[str, str], label: str) -> dict[str, str]:
    """The program's own access key id, so moto-side counts tell programs apart."""
    return {**env, "AWS_ACCESS_KEY_ID": caller_key(label)}


def peak_rss_kib(worker: Worker) -> int:
    """The worker's peak resident set (VmHWM, what getrusage's ru_maxrss reports), read from
    /proc while it is alive."""
    pid = worker._proc.pid  # local.runtime.Worker keeps its Popen private
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")
