"""Shared fixtures: a real local AWS (moto's server on loopback) and the sample events.

Functional tests talk HTTP to moto exactly as the functions talk to AWS, through boto3's default
configuration (AWS_ENDPOINT_URL), so what they assert is what a deployed function would do.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
# Real CloudWatch payloads (public samples, see tests/fixtures/cloudwatch/SOURCES.md).
FIXTURES_DIR = ROOT / "tests" / "fixtures" / "cloudwatch"
REGION = "ap-northeast-2"

# The shared package as the layer ships it (also installed editable in .venv; this keeps tests
# working from a plain checkout).
sys.path.insert(0, str(ROOT / "layers" / "shared"))


def event_paths() -> list[Path]:
    return sorted(EVENTS_DIR.glob("*.json"))


def fixture_paths() -> list[Path]:
    return sorted(FIXTURES_DIR.glob("*.json")) if FIXTURES_DIR.is_dir() else []


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def load_function(name: str) -> ModuleType:
    """Load ``functions/<name>/app.py`` under a unique name (every function module is ``app``)."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_app_{uuid.uuid4().hex}", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeLambdaContext:
    """What the handlers and Powertools read from Lambda's context object."""

    function_name: str = "alert-service-test"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _reset_caches() -> None:
    """Every per-process cache of the shared package: each test is a fresh process."""
    from alert_service import clients, config, delivery, severity
    from alert_service.routing.loader import shipped_table
    from alert_service.silences import settings as quiet_settings
    from alert_service.silences import store as silence_store

    clients.reset()
    delivery.reset()
    config.display_settings.cache_clear()
    config.fanout_settings.cache_clear()
    severity.reset()
    silence_store.reset()
    quiet_settings.flap_settings.cache_clear()
    quiet_settings.silence_cache_seconds.cache_clear()
    shipped_table.cache_clear()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point boto3 at the local endpoint with a clean moto state and fresh clients and caches."""
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "AlertService")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "alert-service-test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _reset_caches()
    yield moto_endpoint
    _reset_caches()


@pytest.fixture
def idempotency_table(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The template's IdempotencyTable: partition key ``id``, TTL ``expiration``."""
    import boto3

    name = "alert-service-idempotency"
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", name)
    return name
