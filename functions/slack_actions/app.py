"""SlackActionsFunction: Slack's button clicks (Function URL, payload 2.0) -> incident transitions.

verify -> decide -> write -> tell the clicker, all in ``alert_service.slack_app.actions``; this
handler times it against Slack's 3 s, logs the outcome (never a secret or the response_url) and
answers ``{"statusCode": ...}`` with no body. A failure to read the secret or write DynamoDB raises:
Slack then shows the clicker an error, nothing changed, and the Errors alarm tells operators.
"""

from __future__ import annotations

import time

# Taken first, before the imports below: Slack's 3 s include this cold start.
_INIT_STARTED = time.monotonic()

from typing import Any  # noqa: E402

from alert_service.slack_app import actions  # noqa: E402
from aws_lambda_powertools import Logger  # noqa: E402

logger = Logger()
_cold = True


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event holds the response_url,
# which lets anyone post into the channel for 30 minutes.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    global _cold  # the first invocation of this process counts its own init ...
    now = time.monotonic()
    # ... unless the init ran well before this request (Lambda may initialise ahead of demand).
    cold_init = _cold and now - _INIT_STARTED < actions.REPLY_BUDGET_SECONDS
    began, _cold = (_INIT_STARTED if cold_init else now), False
    outcome = actions.handle(event)
    about = {
        "status": outcome.status,
        "result": outcome.result,
        "action": outcome.action,
        "incident_id": outcome.incident_id,
        "user": outcome.user,
    }
    problem = actions.send_reply(outcome, deadline=began + actions.REPLY_BUDGET_SECONDS)
    if problem:
        logger.warning("slack action: reply not sent", extra={**about, "reply_error": problem})
    else:
        logger.info("slack action", extra=about)
    return {"statusCode": outcome.status}
