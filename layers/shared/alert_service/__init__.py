"""alert-service shared package: CloudWatch alarm notifications -> Slack, email, SMS and history.

Data flows one way: SNS record -> ``parse`` -> ``Notification``/``Alarm`` -> ``view`` -> a channel's
``render`` module -> a channel's ``channels`` module. Nothing heavy is imported here, so importing
one module never pays for the others (cold start is what users feel in an alarm storm).
"""

__version__ = "0.1.0"
