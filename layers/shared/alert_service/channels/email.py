"""Email through Amazon SES (API v2 ``SendEmail``), one message per recipient.

One message per recipient so recipients never see each other, and so one refused address does not
cost the others their mail. ``SendEmail`` is not idempotent: it is repeated inside a call only when
it cannot have been sent (throttling, no connection: ``channels.send_with_retries``); what is left
becomes a ``DeliveryError`` that says whether a later retry can help:
- retryable: throttling (``TooManyRequestsException``, ``Throttling``), 5xx, network errors;
- not retryable: ``MessageRejected`` (e.g. unverified sender),
  ``MailFromDomainNotVerifiedException``, ``AccountSuspendedException``, ``SendingPausedException``
  (v1: ``AccountSendingPausedException``), ``BadRequestException``, ``NotFoundException``. These
  still fail the invocation: an operator must fix SES, and the failure destination keeps the
  notification.
Error messages from SES can contain addresses, so only the error code and masked addresses leave.
"""

from __future__ import annotations

from alert_service import clients
from alert_service.channels import send_with_retries
from alert_service.redact import mask_email
from alert_service.render.email import Email

_RETRYABLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
_CHARSET = "UTF-8"


def send(sender: str, recipient: str, mail: Email) -> str:
    """Send ``mail`` to one ``recipient``; returns SES's message id."""
    response = send_with_retries(
        "SES",
        f"mail to {mask_email(recipient)}",
        _RETRYABLE_CODES,
        lambda: clients.client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [recipient]},
            Content={
                "Simple": {
                    "Subject": {"Data": mail.subject, "Charset": _CHARSET},
                    "Body": {
                        "Html": {"Data": mail.html, "Charset": _CHARSET},
                        "Text": {"Data": mail.text, "Charset": _CHARSET},
                    },
                }
            },
        ),
    )
    return str(response.get("MessageId", ""))
