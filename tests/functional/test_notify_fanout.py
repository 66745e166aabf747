"""NotifyFanoutFunction against a local AWS (moto server): mail and SMS are read back from moto."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from alert_service import clients, delivery, parse
from alert_service.channels import DeliveriesFailed
from alert_service.config import ConfigurationError
from alert_service.render import sms
from conftest import REGION, FakeLambdaContext, event_paths, load_event, load_function

ACCOUNT = "123456789012"  # moto's default account
SENDER = "OTT Alerts <alerts@ott.example.com>"
CPU_ALARM_ID = "7b2e4f1a-3c5d-5e6f-8a9b-0c1d2e3f4a5b"


app = load_function("notify_fanout")
CONTEXT = FakeLambdaContext("NotifyFanoutFunction")


def sent_mail() -> list[Any]:
    """Mail as moto's SES stored it (SESv2 SendEmail lands in the SES v1 backend)."""
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def sent_sms() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT][REGION].sms_messages.values())


def recipients_of(messages: list[Any]) -> list[str]:
    return sorted(address for m in messages for address in m.destinations["ToAddresses"])


@pytest.fixture
def fanout(
    aws: str, idempotency_table: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., None]:
    """Fan-out configured for one email and one SMS recipient, the sender verified in SES.

    Returns ``configure(**env)`` to change variables before the first invocation.
    """
    boto3.client("sesv2").create_email_identity(EmailIdentity="ott.example.com")
    defaults = {
        "ALERT_LOCALE": "ko",
        "ALERT_TIMEZONE": "Asia/Seoul",
        "ALERT_PLATFORM_NAME": "OTT",
        "EMAIL_SENDER": SENDER,
        "EMAIL_RECIPIENTS": "oncall@example.com",
        "SMS_RECIPIENTS": "+821012345678",
    }
    for name in ("EMAIL_STATES", "SMS_STATES"):
        monkeypatch.delenv(name, raising=False)

    def configure(**env: str) -> None:
        from alert_service import config

        for name, value in {**defaults, **env}.items():
            monkeypatch.setenv(name, value)
        config.fanout_settings.cache_clear()
        config.display_settings.cache_clear()

    configure()
    return configure


class CurrentStdout:
    """Writes to whatever ``sys.stdout`` is now: the logger keeps the stream it was made with (at
    import, before pytest's capsys replaces stdout), EMF metrics are printed to the current one."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


app.logger.registered_handler.setStream(CurrentStdout())  # type: ignore[arg-type]


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything the function printed: logs and EMF metrics."""
    return lambda: capsys.readouterr().out


def invoke(event: dict[str, Any]) -> dict[str, int]:
    return app.handler(event, CONTEXT)


def cpu_alarm_named(name: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("cpu_alarm.json"))
    sns_record = event["Records"][0]["Sns"]
    message = json.loads(sns_record["Message"])
    message["AlarmName"] = name
    sns_record["Message"] = json.dumps(message, ensure_ascii=False)
    return event


def reject_mail_to(address: str) -> Callable[[], None]:
    """Make SES refuse mail to one address, as it does for a suppressed or bad recipient.

    moto only refuses for the sender, so the refusal is injected with botocore's own ``before-call``
    hook on the one real client the channel uses: the request never leaves, the error goes through
    botocore's normal error path (a real ``ClientError``), and every other request reaches moto.
    """
    from botocore.awsrequest import AWSResponse

    def refuse(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = json.loads(params["body"])
        if address not in body["Destination"]["ToAddresses"]:
            return None
        error = {"Code": "MessageRejected", "Message": f"Address blacklisted: {address}"}
        return AWSResponse("", 400, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    events = clients.client("sesv2").meta.events
    events.register("before-call.sesv2.SendEmail", refuse, unique_id="reject-one")
    return lambda: events.unregister("before-call.sesv2.SendEmail", unique_id="reject-one")


# --- content, per locale -----------------------------------------------------------------------


def test_cpu_alarm_sends_one_mail_and_one_sms_ko(
    fanout: Callable[..., None], output: Callable[[], str]
) -> None:
    assert invoke(load_event("cpu_alarm.json")) == {"delivered": 2}

    [mail] = sent_mail()
    assert mail.source == SENDER
    assert mail.destinations == {"ToAddresses": ["oncall@example.com"]}
    assert mail.subject == "[ALARM] OTT-DB-CPU-Utilization-High"
    # moto keeps only the HTML body when both are sent (the text body: unit tests).
    assert "background:#eb4034" in mail.body
    assert "경보 상세: OTT-DB-CPU-Utilization-High" in mail.body
    assert "2024-01-12 16:30:00 KST" in mail.body
    assert "https://ap-northeast-2.console.aws.amazon.com/cloudwatch/home?" in mail.body
    assert "OTT 플랫폼 통합 관제 시스템" in mail.body

    assert sent_sms() == [
        ("+821012345678", "[ALARM] OTT-DB-CPU-Utilization-High 87.43% >= 80% 16:30 KST")
    ]

    # Logs: correlation id is the SNS MessageId; no address or number in clear.
    out = output()
    logs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    delivered = [r for r in logs if r.get("message") == "Delivered"]
    assert {r["channel"] for r in delivered} == {"email", "sms"}
    assert all(r["correlation_id"] == CPU_ALARM_ID for r in delivered)
    assert {r["recipient"] for r in delivered} == {"o***@example.com", "+82******5678"}
    assert "oncall@example.com" not in out
    assert "+821012345678" not in out
    # One EMF record per channel, with the channel dimension.
    emf = [r for r in logs if "_aws" in r and "NotificationsDelivered" in r]
    assert sorted(r["channel"] for r in emf) == ["email", "sms"]
    for record in emf:
        assert record["NotificationsDelivered"] == [1.0]
        assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "channel"]]
        assert record["service"] == "alert-service-test"


def test_cpu_alarm_en(fanout: Callable[..., None]) -> None:
    fanout(ALERT_LOCALE="en")
    invoke(load_event("cpu_alarm.json"))

    [mail] = sent_mail()
    assert mail.subject == "[ALARM] OTT-DB-CPU-Utilization-High"
    assert 'lang="en"' in mail.body
    assert "Alarm details: OTT-DB-CPU-Utilization-High" in mail.body
    assert "State changed to <strong" in mail.body
    assert "OTT Platform Monitoring" in mail.body


def test_script_in_alarm_name_arrives_inert(fanout: Callable[..., None]) -> None:
    invoke(cpu_alarm_named("<script>alert(1)</script>"))

    [mail] = sent_mail()
    assert "<script" not in mail.body.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.body
    assert "%3Cscript%3E" in mail.body  # the console link's path is URL-encoded


# --- SMS length ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding", "limit"),
    [
        ("운영-데이터베이스-CPU-사용률-임계치-초과-" * 10, "UCS-2", 70),
        ("OTT-DB-Aurora-Primary-Writer-CPU-Utilization-High-" * 6, "GSM-7", 160),
    ],
    ids=["korean", "ascii"],
)
def test_long_alarm_name_sms_is_one_segment(
    fanout: Callable[..., None], name: str, encoding: str, limit: int
) -> None:
    invoke(cpu_alarm_named(name))

    [(number, message)] = sent_sms()
    assert number == "+821012345678"
    cost, segment_limit, used = sms.segment_cost(message)
    assert (used, segment_limit) == (encoding, limit)
    assert cost <= limit
    assert message.endswith("87.43% >= 80% 16:30 KST")


def test_every_event_sms_fits_one_segment(fanout: Callable[..., None]) -> None:
    fanout(SMS_STATES="ALARM,OK,INSUFFICIENT_DATA", EMAIL_RECIPIENTS="")
    alarms = 0
    for path in event_paths():
        event = load_event(path.name)
        alarms += sum(n.alarm is not None for n in parse.notifications(event))
        invoke(event)

    messages = [message for _, message in sent_sms()]
    assert len(messages) == alarms  # every alarm, and no notice, went by SMS
    for message in messages:
        assert sms.fits_one_segment(message), message


# --- routing ------------------------------------------------------------------------------------


def test_ok_goes_by_email_only(fanout: Callable[..., None]) -> None:
    invoke(load_event("cpu_ok.json"))
    assert [m.subject for m in sent_mail()] == ["[OK] OTT-DB-CPU-Utilization-High"]
    assert sent_sms() == []


def test_insufficient_data_with_default_states_sends_nothing(fanout: Callable[..., None]) -> None:
    assert invoke(load_event("insufficient_data.json")) == {"delivered": 0}
    assert sent_mail() == []
    assert sent_sms() == []


@pytest.mark.parametrize("name", ["plain_text.json", "unknown_json.json", "empty_message.json"])
def test_notices_go_by_email_never_by_sms(fanout: Callable[..., None], name: str) -> None:
    fanout(SMS_STATES="ALARM,OK,INSUFFICIENT_DATA", EMAIL_STATES="ALARM")
    invoke(load_event(name))
    [mail] = sent_mail()
    assert mail.subject.startswith("[알림] ")
    assert sent_sms() == []


def test_multi_record_routes_each_record(fanout: Callable[..., None]) -> None:
    assert invoke(load_event("multi_record.json")) == {"delivered": 5}
    assert sorted(m.subject for m in sent_mail()) == [
        "[ALARM] OTT-DB-CPU-Utilization-High",
        "[ALARM] OTT-DB-Connections-High",
        "[알림] [OTT] Load test notice",
    ]
    assert len(sent_sms()) == 2


# --- partial failure and retry ------------------------------------------------------------------


def test_one_failing_recipient_of_three_then_retry_sends_only_the_missing_one(
    fanout: Callable[..., None], output: Callable[[], str]
) -> None:
    fanout(EMAIL_RECIPIENTS="ann@example.com,bob@example.com,cho@example.com")
    restore = reject_mail_to("bob@example.com")

    with pytest.raises(DeliveriesFailed) as failed:
        invoke(load_event("cpu_alarm.json"))

    # Every recipient was attempted; the error names the failed one, masked.
    assert recipients_of(sent_mail()) == ["ann@example.com", "cho@example.com"]
    assert len(sent_sms()) == 1
    assert failed.value.failures == (
        f"{CPU_ALARM_ID} email b***@example.com: "
        "SES refused mail to b***@example.com: MessageRejected (HTTP 400)",
    )
    assert "bob@example.com" not in str(failed.value)
    assert "bob@example.com" not in output()

    # Lambda retries the invocation once SES accepts again: only bob's mail goes out.
    restore()
    assert invoke(load_event("cpu_alarm.json")) == {"delivered": 1}
    assert recipients_of(sent_mail()) == [
        "ann@example.com",
        "bob@example.com",
        "cho@example.com",
    ]
    assert len(sent_sms()) == 1

    # A third delivery of the same message (SNS duplicates, a replay) sends nothing.
    assert invoke(load_event("cpu_alarm.json")) == {"delivered": 0}
    assert len(sent_mail()) == 3
    assert len(sent_sms()) == 1


def test_failed_delivery_is_counted_per_channel(
    fanout: Callable[..., None], output: Callable[[], str]
) -> None:
    reject_mail_to("oncall@example.com")
    with pytest.raises(DeliveriesFailed):
        invoke(load_event("cpu_alarm.json"))
    logs = [json.loads(line) for line in output().splitlines() if "_aws" in line]
    failed = [r for r in logs if "NotificationsFailed" in r]
    delivered = [r for r in logs if "NotificationsDelivered" in r]
    assert [r["channel"] for r in failed] == ["email"]
    assert [r["channel"] for r in delivered] == ["sms"]


def test_unverified_sender_fails_the_invocation(fanout: Callable[..., None]) -> None:
    fanout(EMAIL_SENDER="alerts@unverified.example.net")
    with pytest.raises(DeliveriesFailed, match=r"a\*\*\*@example\.com|o\*\*\*@example\.com"):
        invoke(load_event("cpu_alarm.json"))
    assert sent_mail() == []
    assert len(sent_sms()) == 1  # the other channel still delivered


def test_idempotency_table_holds_no_address_or_number(
    fanout: Callable[..., None], idempotency_table: str
) -> None:
    invoke(load_event("cpu_alarm.json"))
    items = boto3.client("dynamodb").scan(TableName=idempotency_table)["Items"]
    assert len(items) == 2
    dump = json.dumps(items)
    assert "oncall" not in dump
    assert "1012345678" not in dump
    assert delivery.recipient_key("+821012345678") not in ("+821012345678", "")


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable", "masked", "secret"),
    [
        (
            {"EMAIL_RECIPIENTS": "ok@example.com,alice.example.com"},
            "EMAIL_RECIPIENTS",
            "ali**********.com",
            "alice.example.com",
        ),
        (
            {"SMS_RECIPIENTS": "+821012345678,010-9876-5432"},
            "SMS_RECIPIENTS",
            "010******5432",
            "010-9876-5432",
        ),
        (
            {"SMS_RECIPIENTS": "821098765432"},
            "SMS_RECIPIENTS",
            "821*****5432",
            "821098765432",
        ),
    ],
    ids=["malformed-email", "local-number", "missing-plus"],
)
def test_bad_configuration_names_variable_and_masked_entry(
    fanout: Callable[..., None], env: dict[str, str], variable: str, masked: str, secret: str
) -> None:
    fanout(**env)
    with pytest.raises(ConfigurationError) as error:
        invoke(load_event("cpu_alarm.json"))
    assert variable in str(error.value)
    assert masked in str(error.value)
    assert secret not in str(error.value)
    assert sent_mail() == []
    assert sent_sms() == []


def test_empty_lists_turn_channels_off(fanout: Callable[..., None]) -> None:
    fanout(EMAIL_RECIPIENTS="", SMS_RECIPIENTS="", EMAIL_SENDER="")
    assert invoke(load_event("multi_record.json")) == {"delivered": 0}
    assert sent_mail() == []
    assert sent_sms() == []


def test_empty_email_list_keeps_sms(fanout: Callable[..., None]) -> None:
    fanout(EMAIL_RECIPIENTS=" , ")
    assert invoke(load_event("cpu_alarm.json")) == {"delivered": 1}
    assert sent_mail() == []
    assert len(sent_sms()) == 1


def test_handler_file_is_thin() -> None:
    source = Path(app.__file__).read_text(encoding="utf-8")
    assert "boto3" not in source  # AWS calls live in the shared channels
    assert "<table" not in source  # layouts live in the shared renderers


def test_a_record_that_fails_to_render_does_not_stop_the_others(
    fanout: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug met by one record (here: the email layout raising for one alarm) fails that record
    only; the other records of the invocation are still delivered, and the invocation raises."""
    real_render = app.email_render.render

    def render(view: Any) -> Any:
        if view.name == "OTT-DB-Connections-High":
            raise RuntimeError("layout bug")
        return real_render(view)

    monkeypatch.setattr(app.email_render, "render", render)
    event = load_event("multi_record.json")
    ids = [record["Sns"]["MessageId"] for record in event["Records"]]
    with pytest.raises(DeliveriesFailed) as failed:
        invoke(event)
    assert failed.value.failures == (f"{ids[1]}: RuntimeError",)
    subjects = [message.subject for message in sent_mail()]
    assert len(subjects) == 2  # the CPU alarm and the plain-text notice
    assert not any("Connections" in subject for subject in subjects)
