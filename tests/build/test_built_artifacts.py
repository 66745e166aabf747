"""What a plain ``sam build`` produces, checked file by file and run as Lambda runs it.

The build users take is ``sam build && sam deploy`` (issue 9): so this module runs a plain
``sam build --build-dir <tmp>`` (no step after it; the repository's samconfig.toml applies, as for
a user) and checks that build: bytecode for every module, valid for CPython 3.11 inside a zip, the
parts ``layers/shared/prune.txt`` removes absent, no boto3, the size budget, the slack_sdk entry
points importable, and every sample event through every function. ``make build`` must give the
same files (``test_make_build_is_the_plain_build``), so the demo and bench run what ships.

Each built function runs in a worker process (local/runtime.py) whose path holds only the built
function, the built layer's ``python/`` and boto3 (``.venv-runtime``), against moto's server and
the loopback Slack: a module missing from the layer, a layer folder one level too deep, or a
dependency that only the dev venv has fails here as it would after ``sam deploy``.

No timings here: a cold start is measured, with its budget, by ``make bench``.

What a test needs and ``make test`` makes (the SAM CLI, ``make build``, the runtime venv) is
skipped with the command to run when missing, and fails under CI (``CI=true``): a green CI run
must mean the artifacts were checked.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import sizes
from local import BUILD_DIR, EVENTS_DIR, ROOT
from local.aws import FunctionSpec, Template
from local.runtime import RUNTIME_PYTHON, RUNTIME_VENV, Worker

LAYER_ID = "SharedLayer"
PRUNE_FILE = ROOT / "layers" / "shared" / "prune.txt"
SAM = ROOT / ".venv" / "bin" / "sam"
LAYER_ZIPPED_MAX = 2_500_000  # bytes (issue 2)
FUNCTION_CODE_LIMIT = 50 * 1024  # zipped; the handlers are thin, the work is in the layer
# What Lambda's python3.11 runtime itself provides next to the standard library.
RUNTIME_PACKAGES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
# What code in the functions imports from slack_sdk (TIPS.md: `import slack_sdk` runs its
# __init__, which imports the WebClient): these must survive prune.txt.
SLACK_SDK_IMPORTS = (
    "from slack_sdk import WebClient",
    "from slack_sdk.web import WebClient",
    "from slack_sdk.signature import SignatureVerifier",
    "from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler",
    "from slack_sdk.http_retry import RateLimitErrorRetryHandler",
    "from slack_sdk.errors import SlackApiError, SlackClientError",
)
# Hash-based pyc that the import system does not check against the source (PEP 552): valid
# whatever mtime the zip gives the .py, and no hashing of the source at import.
PYC_UNCHECKED_HASH = 0b01

TEMPLATE = Template()
SPECS = {spec.logical_id: spec for spec in TEMPLATE.functions()}
FUNCTIONS = list(SPECS)
# The sample events are SNS events: they go to the functions the topic invokes.
SNS_FUNCTIONS = [lid for lid, spec in SPECS.items() if spec.subscriptions]
ARTIFACTS = [LAYER_ID, *FUNCTIONS]
EVENTS = sorted(EVENTS_DIR.glob("*.json"))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(ok: bool, missing: str) -> None:
    """Skip (fail under CI) unless ``ok``; ``missing`` says what is missing and how to make it."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{missing} (CI=true: a missing build is a failure, not a skip)")
    pytest.skip(missing)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def prune_rules() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in PRUNE_FILE.read_text().splitlines())
    return [line for line in lines if line]


def artifact_dir(build: Path, artifact: str) -> Path:
    """Where an artifact's importable files are (/opt/python for a layer, /var/task for code)."""
    return build / artifact / "python" if artifact == LAYER_ID else build / artifact


# --------------------------------------------------------------------------------------------
# The builds
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def plain_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sam build`` into a temporary directory, as a user runs it: nothing after it."""
    require(SAM.exists(), f"{SAM} is missing: run `make venv`")
    build = tmp_path_factory.mktemp("plain-sam-build") / "build"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own venv's sam, fixed arguments
        [str(SAM), "build", "--build-dir", str(build)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    # Not a check: what this proof adds to `make test`, shown with -rA or -s.
    print(f"plain sam build: {time.perf_counter() - started:.1f} s")
    return build


@pytest.fixture(scope="module")
def stack(plain_build: Path) -> Iterator[Any]:
    """The local pipeline with one warm worker per function of the plain build."""
    require(RUNTIME_PYTHON.exists(), f"{RUNTIME_VENV} is missing: run `make test`")
    from local.pipeline import LocalPipeline

    with LocalPipeline(start_workers=False) as pipeline:
        for lid, spec in pipeline.specs.items():
            pipeline.workers[lid] = Worker(spec, pipeline.local_env(spec), build_dir=plain_build)
        pipeline.start_workers()  # imports them side by side
        failed = {
            lid: f"{w.init.error_type}: {w.init.error_message}"
            for lid, w in pipeline.workers.items()
            if not w.init.ok
        }
        assert not failed, failed
        yield pipeline


def first_event(stack: Any, function: str) -> dict[str, Any] | None:
    """The first event a function gets in a cold start: an alarm for the SNS functions; for the
    scheduled ones what their trigger sends (a stream record, a schedule's input, a cron tick).
    None for the Slack app's functions, whose build tests (test_slack_*_built.py) drive them."""
    if function in SNS_FUNCTIONS:
        return with_new_message_ids(load(EVENTS_DIR / "cpu_alarm.json"))
    env = stack.specs[function].environment
    if function == "IncidentTimersFunction":
        from local.scheduled_jobs import ScheduledJobs

        table = stack.template.physical_name("AlarmHistoryTable")
        ScheduledJobs(stack.aws.client, table=table, group=env["SCHEDULE_GROUP_NAME"]).prepare()
        return incident_insert_record()
    if function == "IncidentEscalationFunction":
        return {"incident_id": f"INC-20240112073000-{uuid.uuid4().hex[:16]}", "step": "escalate-1"}
    if function == "DailyDigestFunction":
        return {}  # ScheduleV2 without an Input
    if function == "QuietSweepFunction":  # an EventBridge rule's tick (Schedule: rate(1 minute))
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": "2024-01-12T07:31:00Z",
            "detail": {},
        }
    if function in ("SlackIncidentFunction", "SlackActionsFunction"):
        return None
    raise AssertionError(f"{function}: no first event known; add one here")


def incident_insert_record() -> dict[str, Any]:
    """A DynamoDB stream event: the CPU sample's incident item inserted, under a fresh key."""
    from alert_service import history, parse

    from local.scheduled_jobs import insert_event

    (notification,) = parse.notifications(load(EVENTS_DIR / "cpu_alarm.json"))
    key = uuid.uuid4().hex[:16]
    item = history.incident_item(
        notification.alarm,
        key=key,
        incident=history.incident_id(notification.alarm.state_changed_at, key),
        at="2024-01-12T07:30:00.000Z",
        message_id=notification.message_id,
    )
    return insert_event(item)


def with_new_message_ids(event: dict[str, Any]) -> dict[str, Any]:
    """The event with fresh MessageIds, so once-only delivery does not skip it as a repeat."""
    event = copy.deepcopy(event)
    for record in event.get("Records", []):
        record["Sns"]["MessageId"] = str(uuid.uuid4())
    return event


def run_in_runtime(build: Path, function: str, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in Lambda's interpreter as local.runtime starts it (isolated, no __pycache__
    writes), with the function's folder and its layers first on the path."""
    require(RUNTIME_PYTHON.exists(), f"{RUNTIME_VENV} is missing: run `make test`")
    paths = [str(build / function)] + [
        str(build / layer / "python") for layer in SPECS[function].layers
    ]
    prelude = f"import sys; sys.path[:0] = {paths!r}\n"
    return subprocess.run(  # noqa: S603 - the runtime venv's python, our own code
        [str(RUNTIME_PYTHON), "-I", "-B", "-c", prelude + code],
        cwd=build / function,
        env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        check=False,
    )


# --------------------------------------------------------------------------------------------
# The artifacts themselves
# --------------------------------------------------------------------------------------------
def test_make_build_is_the_plain_build(plain_build: Path) -> None:
    """``make build`` (.aws-sam/build, what the demo and bench run) has exactly the files of a
    plain ``sam build``, with the same content; a pyc's body may differ byte-wise between two
    compilations (marshal), so for pycs the header (magic, flags, source hash) is compared."""
    require(BUILD_DIR.is_dir(), f"{BUILD_DIR} is missing: run `make build` (make test does)")
    for artifact in ARTIFACTS:
        ours, plain = BUILD_DIR / artifact, plain_build / artifact
        files = {p.relative_to(ours) for p in ours.rglob("*") if p.is_file()}
        expected = {p.relative_to(plain) for p in plain.rglob("*") if p.is_file()}
        assert files == expected, (
            f"{artifact}: only in make build {sorted(files - expected)[:10]}, "
            f"only in sam build {sorted(expected - files)[:10]}"
        )
        differ = [
            str(rel)
            for rel in sorted(files)
            if (ours / rel).read_bytes()[: 16 if rel.suffix == ".pyc" else None]
            != (plain / rel).read_bytes()[: 16 if rel.suffix == ".pyc" else None]
        ]
        assert not differ, f"{artifact}: differs from a plain sam build: {differ[:10]}"


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_every_module_ships_bytecode_for_the_runtime(plain_build: Path, artifact: str) -> None:
    """Each .py has its ``__pycache__/<name>.cpython-311.pyc``: CPython 3.11's magic number, an
    unchecked hash-based pyc (a zip's 2-second mtimes cannot invalidate it) of this very source.
    Lambda cannot write __pycache__, so a missing or stale pyc is a compile at every cold start."""
    root = artifact_dir(plain_build, artifact)
    sources = sorted(root.rglob("*.py"))
    assert sources, f"{artifact}: no Python source at all in {root}"
    problems = []
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        if not pyc.is_file():
            problems.append(f"{source.relative_to(root)}: no {pyc.name}")
            continue
        header = pyc.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != importlib.util.MAGIC_NUMBER:
            problems.append(f"{source.relative_to(root)}: not CPython 3.11 bytecode")
        elif flags != PYC_UNCHECKED_HASH:
            problems.append(f"{source.relative_to(root)}: pyc flags {flags}, not unchecked-hash")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{source.relative_to(root)}: pyc of another source")
    assert not problems, f"{artifact}: {len(problems)} of {len(sources)} modules: {problems[:10]}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_import_compiles_nothing(plain_build: Path, function: str) -> None:
    """Importing the handler (and what it imports from the layer) in Lambda's interpreter runs
    the shipped bytecode: not one module of the build is compiled from source."""
    code = (
        "import builtins, json\n"
        "compiled = []\n"
        "real = builtins.compile\n"
        "def spy(source, filename, *args, **kwargs):\n"
        "    compiled.append(str(filename))\n"
        "    return real(source, filename, *args, **kwargs)\n"
        "builtins.compile = spy\n"
        f"import {SPECS[function].handler.rsplit('.', 1)[0]}\n"
        "print(json.dumps(compiled))\n"
    )
    done = run_in_runtime(plain_build, function, code)
    assert done.returncode == 0, done.stderr[-3000:]
    compiled = [
        f for f in json.loads(done.stdout.splitlines()[-1]) if f.startswith(str(plain_build))
    ]
    assert compiled == [], f"{function}: compiled at import: {compiled[:10]}"


def test_pruned_parts_are_absent(plain_build: Path) -> None:
    """Everything layers/shared/prune.txt lists is gone from the layer (and so from /opt)."""
    python = artifact_dir(plain_build, LAYER_ID)
    rules = prune_rules()
    assert any(rule.startswith("aws_lambda_powertools/") for rule in rules)
    assert any(rule.startswith("slack_sdk/") for rule in rules)
    left = {rule: [str(p.relative_to(python)) for p in python.glob(rule)] for rule in rules}
    assert not {rule: paths for rule, paths in left.items() if paths}


def test_slack_sdk_entry_points_import_from_the_built_layer(plain_build: Path) -> None:
    """Pruning slack_sdk keeps what the functions use: the sync Web API client, request
    signatures, the sync retry handlers and the errors, each imported in a fresh interpreter
    (a module removed by prune.txt that one of them needs fails here)."""
    function = next(lid for lid, spec in SPECS.items() if LAYER_ID in spec.layers)
    for statement in SLACK_SDK_IMPORTS:
        code = f"{statement}\nimport slack_sdk\nprint(slack_sdk.__file__)\n"
        done = run_in_runtime(plain_build, function, code)
        assert done.returncode == 0, f"{statement}:\n{done.stderr[-2000:]}"
        assert done.stdout.strip().startswith(str(plain_build / LAYER_ID / "python"))


def test_layer_has_the_package_at_the_top_of_python(plain_build: Path) -> None:
    python = artifact_dir(plain_build, LAYER_ID)
    assert (python / "alert_service" / "__init__.py").is_file()
    assert not (python / "python").exists(), "the package would land in /opt/python/python"
    build_files = {"Makefile", "sam_build.py", "prune.txt", "requirements.txt"}
    assert not build_files & {p.name for p in python.iterdir()}, "build files ship in the layer"


def test_a_plain_sam_build_ships_the_routing_rules(plain_build: Path) -> None:
    """The layer holds routing.yaml as JSON (layers/shared/routing.json, kept in sync by
    ``make check-routing``) where the loader looks, and Lambda's interpreter reads its rules."""
    python = artifact_dir(plain_build, LAYER_ID)
    shipped = python / "alert_service" / "routing" / "routing.json"
    assert shipped.is_file(), "routing.json is missing from the built layer"
    assert shipped.read_text(encoding="utf-8") == (
        ROOT / "layers" / "shared" / "routing.json"
    ).read_text(encoding="utf-8")
    names = [rule["name"] for rule in json.loads(shipped.read_text(encoding="utf-8"))["rules"]]
    function = next(lid for lid, spec in SPECS.items() if LAYER_ID in spec.layers)
    code = (
        "from alert_service.routing import shipped_table\n"
        "print(','.join(rule.name for rule in shipped_table().rules))\n"
    )
    done = run_in_runtime(plain_build, function, code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ",".join(names)


def test_layer_leaves_boto3_to_the_runtime(plain_build: Path) -> None:
    python = artifact_dir(plain_build, LAYER_ID)
    bundled = sorted(
        p.name
        for p in python.iterdir()
        if p.name.split("-")[0] in ("boto3", "botocore", "s3transfer")
    )
    assert bundled == [], f"the layer bundles what the runtime already has: {bundled}"


def test_layer_fits_the_size_budget(plain_build: Path) -> None:
    zipped = sizes.measure(plain_build / LAYER_ID).zipped
    assert zipped <= LAYER_ZIPPED_MAX, f"SharedLayer is {zipped / 1e6:.2f} MB zipped"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_code_is_small(plain_build: Path, function: str) -> None:
    """The function's own zip (what sam package uploads for it) stays under 50 KB."""
    folder = plain_build / function
    assert (folder / "app.py").is_file(), f"{function} was not built"
    zipped = sizes.measure(folder).zipped
    assert zipped < FUNCTION_CODE_LIMIT, f"{function}: {zipped} bytes zipped"


def test_runtime_venv_holds_only_boto3() -> None:
    """The worker's interpreter must not see the dev venv (moto, pytest, requests, ...)."""
    require(RUNTIME_PYTHON.exists(), f"{RUNTIME_VENV} is missing: run `make test`")
    site = next(RUNTIME_VENV.glob("lib/python3.*/site-packages"))
    packages = {
        p.name.removesuffix(".py")
        for p in site.iterdir()
        if not p.name.endswith((".dist-info", ".pth"))
        and p.name not in ("__pycache__", "bin")
        and not p.name.startswith(("_", "."))
    }
    assert packages <= RUNTIME_PACKAGES, packages - RUNTIME_PACKAGES


# --------------------------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", FUNCTIONS)
def test_first_event_in_a_fresh_process(stack: Any, plain_build: Path, function: str) -> None:
    """A cold start works: a new interpreter imports the handler and, for a function of the
    topic, delivers its first event (timed by make bench, not here)."""
    spec: FunctionSpec = stack.specs[function]
    with Worker(spec, stack.local_env(spec), build_dir=plain_build) as worker:
        init = worker.init
        assert init.ok, f"{function} failed to import: {init.error_type}: {init.error_message}"
        event = first_event(stack, function)
        if event is None:
            return  # its own build test sends it what its trigger sends
        delivery = stack.direct(function, event, worker=worker)
    inv = delivery.invocation
    assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
    check_delivered(stack, function, event, delivery)


@pytest.mark.parametrize("event_path", EVENTS, ids=[p.stem for p in EVENTS])
@pytest.mark.parametrize("function", SNS_FUNCTIONS)
def test_every_event_is_delivered(stack: Any, function: str, event_path: Path) -> None:
    event = load(event_path)
    delivery = stack.direct(function, event)
    inv = delivery.invocation
    assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
    check_delivered(stack, function, event, delivery)


def test_published_event_reaches_every_subscribed_function(stack: Any) -> None:
    """Through the topic: moto fans one publish out to each function's subscription."""
    event = load(EVENTS_DIR / "multi_record.json")
    deliveries = stack.publish(event)
    records = len(event["Records"])
    for function in SNS_FUNCTIONS:
        runs = [d for d in deliveries if d.function == function]
        subscriptions = stack.specs[function].subscriptions
        if any(s.filter_policy for s in subscriptions):  # the filter may leave some out
            assert len(runs) <= records, f"{function}: {len(runs)} invocations"
        else:
            assert len(runs) == records, f"{function}: {len(runs)} invocations"
        for run in runs:
            assert run.invocation.ok, f"{function}: {run.invocation.error_message}"
            # SNS delivers one record per Lambda invocation, under a MessageId of its own.
            assert run.event["Records"][0]["EventSource"] == "aws:sns"
            check_delivered(stack, function, run.event, run)


# --------------------------------------------------------------------------------------------
# What "delivered" means for each function
# --------------------------------------------------------------------------------------------
def check_delivered(stack: Any, function: str, event: dict[str, Any], delivery: Any) -> None:
    records = event.get("Records", [])
    env = stack.specs[function].environment
    if function == "SlackRelayFunction":
        assert len(delivery.slack) == len(records), "one Slack POST per record"
        for post in delivery.slack:
            payload = post.payload
            assert isinstance(payload, dict)
            assert payload.get("text")
            assert payload.get("attachments") or payload.get("blocks")
    elif function == "NotifyFanoutFunction":
        emails, sms = expected_fanout(event, env)
        assert len(delivery.emails) == emails, [m.get("subject") for m in delivery.emails]
        assert len(delivery.sms) == sms, [m.get("message") for m in delivery.sms]
        for mail in delivery.emails:
            assert mail.get("subject")
            assert mail.get("body")
    elif function == "AlarmHistoryFunction":
        table = env["HISTORY_TABLE_NAME"]
        ddb = stack.aws.client("dynamodb")
        for record in records:
            message_id = record["Sns"]["MessageId"]
            items = ddb.scan(  # a test may scan; the function and CLI only query
                TableName=table,
                FilterExpression="message_id = :m",
                ExpressionAttributeValues={":m": {"S": message_id}},
            )["Items"]
            assert items, f"no history item for MessageId {message_id}"
            assert any(
                item.get("raw_payload", {}).get("S") == record["Sns"]["Message"] for item in items
            ), "the raw payload is kept unchanged"
    else:  # a function added later: it ran without error, which is all that is known here
        assert delivery.invocation.ok


def expected_fanout(event: dict[str, Any], env: dict[str, str]) -> tuple[int, int]:
    """Emails and SMS the fan-out should send: by state (EMAIL_STATES / SMS_STATES); a
    notification that is not an alarm goes by email only (issue 3, part 3)."""
    from alert_service import parse

    def items(name: str, default: str = "") -> set[str]:
        return {x.strip().upper() for x in (env.get(name) or default).split(",") if x.strip()}

    email_to = len(items("EMAIL_RECIPIENTS"))
    sms_to = len(items("SMS_RECIPIENTS"))
    email_states = items("EMAIL_STATES", "ALARM,OK")
    sms_states = items("SMS_STATES", "ALARM")
    emails = sms = 0
    for notification in parse.notifications(event):
        state = notification.state
        if state is None or state.value in email_states:
            emails += email_to
        if state is not None and state.value in sms_states:
            sms += sms_to
    return emails, sms


def test_scheduled_jobs_after_the_events(stack: Any) -> None:
    """What make demo can show after the sample events: escalations, a reminder, the digest."""
    from local.scheduled_jobs import run_demo

    for path in EVENTS:  # the history the earlier tests left may be empty when run alone
        stack.direct("AlarmHistoryFunction", load(path))
    lines = run_demo(stack)
    text = "\n".join(lines)
    assert "escalate-1" in text
    assert "<!here>" in text
    assert "<!channel>" in text
    assert "remind-1" in text
    assert "daily digest, period ending" in text
