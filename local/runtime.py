"""Run a BUILT function as Lambda loads it, without Docker.

Lambda's python3.11 runtime puts the function (``/var/task``) and each layer's ``python/``
(``/opt/python``) on ``sys.path`` ahead of its own boto3, and nothing else. A ``Worker`` starts
``.venv-runtime/bin/python -I -B`` (isolated: no user site, no current directory, no PYTHON*
variables; ``-B``: Lambda cannot write ``__pycache__`` either) whose site-packages hold only boto3
(the Makefile's ``.venv-runtime``), puts ``.aws-sam/build/<LogicalId>`` and
``.aws-sam/build/<Layer>/python`` first on its path, imports the handler module and then serves
invocations over a pipe. A dependency missing from the layer fails here as it would in Lambda.

The environment is built from scratch, like Lambda's: the function's variables from template.yaml,
Lambda's own (``AWS_LAMBDA_FUNCTION_NAME``, ...), then ``overrides`` (endpoints, credentials and
demo values for local runs). Init (the handler module's import) and each invocation are timed
separately, so the same runner measures cold starts (bench) and runs the demo and build tests.

    with Worker(spec, overrides=local_env) as worker:
        print(worker.init.init_ms)
        result = worker.invoke(event)
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import BUILD_DIR, REGION, ROOT
from local.aws import FunctionSpec

RUNTIME_VENV = ROOT / ".venv-runtime"
RUNTIME_PYTHON = RUNTIME_VENV / "bin" / "python"
WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
# Lambda gives an init 10 s; a cold interpreter on a busy 2-core machine gets more.
INIT_TIMEOUT_S = 60.0


class RuntimeMissing(RuntimeError):
    """The built function or the runtime venv is not there (run ``make build``)."""


@dataclass
class Invocation:
    ok: bool
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    duration_ms: float = 0.0
    logs: list[str] = field(default_factory=list)

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Invocation:
        error = answer.get("error") or {}
        return cls(
            ok=bool(answer.get("ok")),
            result=answer.get("result"),
            error_type=error.get("type"),
            error_message=error.get("message"),
            traceback=error.get("traceback"),
            duration_ms=float(answer.get("duration_ms") or answer.get("init_ms") or 0.0),
            logs=list(answer.get("logs") or []),
        )

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (Powertools Logger), parsed; EMF metric lines included."""
        records = []
        for line in self.logs:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


@dataclass
class Init:
    ok: bool
    init_ms: float  # import of the handler module, measured inside the worker
    startup_ms: float  # process start to ready (interpreter start-up + init), measured outside
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    logs: list[str] = field(default_factory=list)


def function_dir(logical_id: str, build_dir: Path = BUILD_DIR) -> Path:
    return build_dir / logical_id


def layer_dirs(spec: FunctionSpec, build_dir: Path = BUILD_DIR) -> list[Path]:
    return [build_dir / layer / "python" for layer in spec.layers]


def lambda_environment(
    spec: FunctionSpec, overrides: dict[str, str] | None = None, *, bare: bool = False
) -> dict[str, str]:
    """The worker's whole environment: what Lambda sets, the template's variables, overrides.

    ``bare``: none of Lambda's own variables, only PATH, LANG, the spec's variables and the
    overrides, as an outside check that runs a handler with CONTRACT.md's variables would.
    """
    if bare:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8"}
        env.update({**spec.environment, **(overrides or {})})
        return {k: v for k, v in env.items() if v is not None}
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local/[$LATEST]worker",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "_HANDLER": spec.handler,
        # Never the developer's own AWS profile or config.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **spec.environment,
        **(overrides or {}),
    }
    return {k: v for k, v in env.items() if v is not None}


class Worker:
    """One warm Lambda execution environment for one built function."""

    def __init__(
        self,
        spec: FunctionSpec,
        overrides: dict[str, str] | None = None,
        build_dir: Path = BUILD_DIR,
        python: Path = RUNTIME_PYTHON,
        *,
        bare: bool = False,
    ) -> None:
        """``bare``: start with only the spec's variables and ``overrides`` (lambda_environment)."""
        self.spec = spec
        fn_dir = function_dir(spec.logical_id, build_dir)
        layers = layer_dirs(spec, build_dir)
        if not python.exists():
            raise RuntimeMissing(f"{python} is missing: run `make .venv-runtime` (or make demo)")
        for path in (fn_dir, *layers):
            if not path.is_dir():
                raise RuntimeMissing(f"{path.relative_to(ROOT)} is missing: run `make build`")
        self.env = lambda_environment(spec, overrides, bare=bare)
        self._lock = threading.Lock()
        started = time.perf_counter()
        self._proc = subprocess.Popen(
            [
                str(python),
                "-I",
                "-B",
                str(WORKER_SCRIPT),
                str(fn_dir),
                spec.handler,
                *(str(p) for p in layers),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's own crashes show up on our stderr
            cwd=fn_dir,  # /var/task
            env=self.env,
            text=True,
            encoding="utf-8",
        )
        self._started = started
        self._init: Init | None = None

    @property
    def init(self) -> Init:
        """Wait for the worker to import the handler; the init report."""
        if self._init is None:
            answer = self._read()
            error = answer.get("error") or {}
            self._init = Init(
                ok=bool(answer.get("ok")),
                init_ms=float(answer.get("init_ms") or 0.0),
                startup_ms=(time.perf_counter() - self._started) * 1000,
                error_type=error.get("type"),
                error_message=error.get("message"),
                traceback=error.get("traceback"),
                logs=list(answer.get("logs") or []),
            )
        return self._init

    def invoke(self, event: Any, env: dict[str, str] | None = None) -> Invocation:
        with self._lock:
            _ = self.init
            request: dict[str, Any] = {"event": event}
            if env:
                request["env"] = env
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                return Invocation(False, error_type="WorkerDied", error_message=self._died())
            # The function's own Timeout, plus slack for a loaded machine.
            return Invocation.from_answer(self._read(self.spec.timeout + 10))

    def _read(self, timeout: float = INIT_TIMEOUT_S) -> dict[str, Any]:
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:  # Lambda would stop the invocation at its timeout; so do we
            self._proc.kill()
            message = f"{self.spec.logical_id} did not answer within {timeout:.0f} s"
            return {"ok": False, "error": {"type": "TimedOut", "message": message}}
        line = self._proc.stdout.readline()
        if not line:
            return {"ok": False, "error": {"type": "WorkerDied", "message": self._died()}}
        return json.loads(line)

    def _died(self) -> str:
        code = self._proc.wait(timeout=5)
        return f"the worker process of {self.spec.logical_id} exited with status {code}"

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cold_start(
    spec: FunctionSpec, event: Any, overrides: dict[str, str] | None = None
) -> tuple[Init, Invocation]:
    """A fresh worker: init, then one event. For cold-start measurements (bench, build tests)."""
    with Worker(spec, overrides) as worker:
        init = worker.init
        return init, worker.invoke(event)


if __name__ == "__main__":  # python -m local.runtime <LogicalId>: print the cold init of one
    from local.aws import Template

    fn = Template().function(sys.argv[1])
    with Worker(fn) as w:
        print(json.dumps(w.init.__dict__, default=str, ensure_ascii=False, indent=2))
