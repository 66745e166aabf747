"""Email through Amazon SES (API v2 ``SendEmail``), one message per recipient.

One message per recipient so recipients never see each other, and so one refused address does not
cost the others their mail. Retries inside a call are botocore's (throttling, 5xx); what is left
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
from alert_service.channels import DeliveryError
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
    from botocore.exceptions import BotoCoreError, ClientError  # lazily, as boto3 (clients.py)

    try:
        response = clients.client("sesv2").send_email(
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
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise DeliveryError(
            f"SES refused mail to {mask_email(recipient)}: {code} (HTTP {status})",
            retryable=code in _RETRYABLE_CODES or status >= 500,
        ) from None  # the cause's text may hold the addresses
    except BotoCoreError as error:
        raise DeliveryError(
            f"SES unreachable for mail to {mask_email(recipient)}: {type(error).__name__}",
            retryable=True,
        ) from None
    return str(response.get("MessageId", ""))
