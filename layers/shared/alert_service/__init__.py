"""alert-service shared package: CloudWatch alarm notifications -> Slack, email, SMS and history.

Data flows one way: SNS record -> ``parse`` -> ``Notification``/``Alarm`` -> ``view`` -> a channel's
``render`` module -> a channel's ``channels`` module. Nothing heavy is imported here, so importing
one module never pays for the others (cold start is what users feel in an alarm storm).
"""

import os

__version__ = "0.1.0"

# Powertools Metrics raises at flush without a namespace ("Must contain a metric namespace"), which
# would fail an invocation that delivered everything. The template sets it; a function run with
# only the variables of CONTRACT.md still counts under this one. Every handler imports this
# package before it makes its Metrics.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AlertService")
