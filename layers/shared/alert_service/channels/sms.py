"""SMS through Amazon SNS ``Publish`` to a phone number, as a transactional message.

``Transactional`` makes SNS deliver with the highest reliability (and ignore the account's
promotional quiet hours where carriers allow): an alarm is time-critical
(docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html). ``Publish`` is not idempotent: it is
repeated inside a call only when it cannot have been sent (``channels.send_with_retries``); what
is left becomes a ``DeliveryError`` saying whether a later retry can help: throttling, 5xx and
network errors can; ``InvalidParameter`` (e.g. a number SNS cannot reach), ``AuthorizationError``
or an opted-out number cannot. Only the error code and the masked number leave this module.
"""

from __future__ import annotations

from alert_service import clients
from alert_service.channels import send_with_retries
from alert_service.redact import mask_phone

_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)


def send(number: str, message: str) -> str:
    """Publish ``message`` to the E.164 ``number``; returns SNS's message id."""
    response = send_with_retries(
        "SNS",
        f"SMS to {mask_phone(number)}",
        _RETRYABLE_CODES,
        lambda: clients.client("sns").publish(
            PhoneNumber=number,
            Message=message,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
            },
        ),
    )
    return str(response.get("MessageId", ""))
