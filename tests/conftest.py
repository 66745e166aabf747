"""Shared fixtures: a real local AWS (moto's server on loopback) and the sample events.

Functional tests talk HTTP to moto exactly as the functions talk to AWS, through boto3's default
configuration (AWS_ENDPOINT_URL), so what they assert is what a deployed function would do.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point boto3 at the local endpoint with a clean moto state and fresh clients and caches."""
    import requests
    from alert_service import clients, config, delivery

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "AlertService")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "alert-service-test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    clients.reset()
    delivery.reset()
    config.display_settings.cache_clear()
    config.fanout_settings.cache_clear()
    yield moto_endpoint
    clients.reset()
    delivery.reset()
    config.display_settings.cache_clear()
    config.fanout_settings.cache_clear()


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
