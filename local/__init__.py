"""The local pipeline: the whole alert-service on one machine, without Docker or an AWS account.

- ``aws``: moto's server on 127.0.0.1 holding what template.yaml declares (topics, tables, the
  Slack webhook secret, a verified SES sender), and the template reader that resolves names.
- ``slack``: a loopback HTTP server standing in for a Slack incoming webhook.
- ``runtime``: runs a function from ``.aws-sam/build`` as Lambda loads it, in a worker process
  whose path holds only the built function, the built layer and boto3.
- ``pipeline``: publishes events to the topic, lets moto fan them out to one SQS queue per
  function (with the template's filter policies), and hands each message to its function.
- ``demo`` (``make demo``) and ``invoke`` (``make invoke``): the command-line entry points.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".aws-sam" / "build"
EVENTS_DIR = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"
# Account and region of the sample events (events/README.md): moto's default account is the same.
REGION = "ap-northeast-2"
ACCOUNT_ID = "123456789012"
STACK_NAME = "alert-service"
