"""Local AWS: moto's server on loopback, holding what template.yaml declares.

The template is read, not copied: topics, tables (keys, indexes, TTL) and the functions' settings
come from template.yaml, so a table or variable added there reaches the demo and the build tests
without touching this file. Only the intrinsic functions the template uses are evaluated (Ref,
Sub, GetAtt, If, Equals, Not, And, Or, Join, Select, Split), with parameter defaults unless
overridden.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local import ACCOUNT_ID, REGION, STACK_NAME, TEMPLATE

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_NO_VALUE = object()  # AWS::NoValue: the property or list item disappears


# ------------------------------------------------------------------------------------------------
# template.yaml
# ------------------------------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags (!Ref, !Sub, ...) as their long forms."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def read_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)


@dataclass(frozen=True)
class SnsSubscription:
    """An SNS event source of a function: the topic and the subscription's filter, if any."""

    topic_id: str
    filter_policy: dict[str, Any] | None
    filter_policy_scope: str | None


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream event source of a function (how Lambda reads the table's stream)."""

    table_id: str
    batch_size: int
    max_retries: int  # -1: until the record expires
    filters: tuple[dict[str, Any], ...] = ()  # FilterCriteria patterns (any one lets a record in)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    timeout: int
    memory: int
    layers: tuple[str, ...]  # logical ids of the layers (built under .aws-sam/build/<id>/python)
    environment: dict[str, str]
    subscriptions: tuple[SnsSubscription, ...] = field(default=())
    streams: tuple[StreamSource, ...] = field(default=())


class Template:
    """template.yaml with its parameters bound (defaults, then ``parameters``)."""

    def __init__(
        self,
        path: Path = TEMPLATE,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = STACK_NAME,
    ) -> None:
        self.doc = read_template(path)
        self.stack_name = stack_name
        self.resources: dict[str, dict[str, Any]] = self.doc.get("Resources", {})
        overrides = dict(parameters or {})
        self.parameters = {
            name: str(overrides.get(name, spec.get("Default", "")))
            for name, spec in self.doc.get("Parameters", {}).items()
        }
        self._conditions: dict[str, bool] = {}

    # --- names ---------------------------------------------------------------------------------
    def of_type(self, *types: str) -> list[str]:
        return [rid for rid, res in self.resources.items() if res.get("Type") in types]

    def physical_name(self, logical_id: str) -> str:
        """The name the resource gets: its explicit name property, else ``<stack>-<LogicalId>``."""
        res = self.resources[logical_id]
        props = res.get("Properties", {})
        for key in ("TopicName", "TableName", "QueueName", "FunctionName", "LogGroupName", "Name"):
            if key in props:
                return str(self.resolve(props[key]))
        return f"{self.stack_name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        arns = {
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::Serverless::LayerVersion": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1",
        }
        return arns.get(kind, f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{name}")

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources.get(name, {}).get("Type", "")
        if kind in ("AWS::SNS::Topic", "AWS::Serverless::LayerVersion"):
            return self.arn(name)
        if kind == "AWS::SQS::Queue":
            return f"http://localhost/{ACCOUNT_ID}/{self.physical_name(name)}"
        if name in self.resources:
            return self.physical_name(name)
        raise KeyError(f"template.yaml: Ref to unknown {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "TopicName", "Name"):
            return self.physical_name(logical_id)
        return f"{self.physical_name(logical_id)}.{attribute}"

    # --- intrinsic functions -------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.doc["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*self.resolve(arg))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        bound = {k: self.resolve(v) for k, v in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in bound:
                return str(bound[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    # --- functions -----------------------------------------------------------------------------
    def functions(self) -> list[FunctionSpec]:
        """Every function of the template with Globals merged in (SAM's rules: maps merge, the
        function's scalars win, lists are Globals first)."""
        glob = self.doc.get("Globals", {}).get("Function", {})
        specs = []
        for logical_id in self.of_type(*FUNCTION_TYPES):
            condition = self.resources[logical_id].get("Condition")
            if condition and not self.condition(condition):
                continue  # not created with these parameters (e.g. no SlackAppSecretName)
            props = self.resources[logical_id].get("Properties", {})
            env = {
                **(glob.get("Environment", {}).get("Variables", {})),
                **(props.get("Environment", {}).get("Variables", {})),
            }
            layers = [*glob.get("Layers", []), *props.get("Layers", [])]
            subscriptions = []
            streams = []
            for event in props.get("Events", {}).values():
                ev = event.get("Properties", {})
                if event.get("Type") == "DynamoDB":
                    stream = ev.get("Stream", {}).get("Fn::GetAtt") or [None]
                    streams.append(
                        StreamSource(
                            table_id=str(stream[0]),
                            batch_size=int(self.resolve(ev.get("BatchSize", 100))),
                            max_retries=int(self.resolve(ev.get("MaximumRetryAttempts", -1))),
                            filters=tuple(
                                json.loads(self.resolve(f["Pattern"]))
                                for f in (ev.get("FilterCriteria") or {}).get("Filters", [])
                            ),
                        )
                    )
                if event.get("Type") != "SNS":
                    continue
                topic = ev.get("Topic")
                topic_id = topic.get("Ref") if isinstance(topic, dict) else None
                if topic_id is None:
                    continue
                policy = self.resolve(ev["FilterPolicy"]) if "FilterPolicy" in ev else None
                scope = self.resolve(ev.get("FilterPolicyScope")) if policy else None
                subscriptions.append(SnsSubscription(topic_id, policy, scope))
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    name=self.physical_name(logical_id),
                    handler=str(props.get("Handler", glob.get("Handler", "app.handler"))),
                    timeout=int(self.resolve(props.get("Timeout", glob.get("Timeout", 3)))),
                    memory=int(self.resolve(props.get("MemorySize", glob.get("MemorySize", 128)))),
                    layers=tuple(
                        layer["Ref"]
                        for layer in layers
                        if isinstance(layer, dict) and layer.get("Ref") in self.resources
                    ),
                    environment={
                        k: _env_text(v) for k, v in self.resolve(env).items() if v is not _NO_VALUE
                    },
                    subscriptions=tuple(subscriptions),
                    streams=tuple(streams),
                )
            )
        return specs

    def function(self, logical_id: str) -> FunctionSpec:
        for spec in self.functions():
            if spec.logical_id == logical_id:
                return spec
        known = ", ".join(s.logical_id for s in self.functions())
        raise KeyError(f"{logical_id!r} is not a function of template.yaml (known: {known})")


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------------------------
# moto
# ------------------------------------------------------------------------------------------------
class LocalAws:
    """moto's ThreadedMotoServer on 127.0.0.1 (a free port), with boto3 clients pointed at it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # The server logs every request through werkzeug; the demo prints what matters itself.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._clients: dict[str, Any] = {}
        # moto keeps its state per process, not per server: a second pipeline in one process
        # (one test module after another) would find the first one's tables. Start empty.
        self.reset()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.session.Session().client(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    def env(self) -> dict[str, str]:
        """What a process needs to talk to this endpoint through boto3's default session."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def data(self) -> dict[str, Any]:
        """moto's whole state as JSON (sent mail is ``ses.Message``, SMS ``sns.SMS``)."""
        import urllib.request

        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as resp:
            return json.loads(resp.read())

    # The server runs in this process, so its backends can be read directly: what
    # /moto-api/data.json would say (ses.Message, sns.SMS), without serialising all of moto's
    # state on every call (that grew to ~70 ms per call over a demo run).
    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email SES accepted, oldest first: source, destinations, subject, body (the HTML
        part when both were sent), or raw_data for raw messages."""
        from moto.ses.models import ses_backends

        out = []
        for message in list(ses_backends[ACCOUNT_ID][REGION].sent_messages):
            out.append(
                {
                    key: getattr(message, key)
                    for key in ("id", "source", "destinations", "subject", "body", "raw_data")
                    if hasattr(message, key)
                }
            )
        return out

    def sent_sms(self) -> list[dict[str, Any]]:
        """Every SMS published (PhoneNumber), oldest first: phone_number, message."""
        from moto.sns.models import sns_backends

        sms = sns_backends[ACCOUNT_ID][REGION].sms_messages
        return [
            {"message_id": message_id, "phone_number": phone, "message": text}
            for message_id, (phone, text) in list(sms.items())
        ]

    def stop(self) -> None:
        self._server.stop()

    # --- what the template declares ------------------------------------------------------------
    def create_topics(self, template: Template) -> dict[str, str]:
        """Every AWS::SNS::Topic; returns logical id -> topic ARN."""
        sns = self.client("sns")
        return {
            rid: sns.create_topic(Name=template.physical_name(rid))["TopicArn"]
            for rid in template.of_type("AWS::SNS::Topic")
        }

    def create_tables(self, template: Template) -> dict[str, str]:
        """Every AWS::DynamoDB::Table with its keys, indexes, TTL and stream; logical id -> name."""
        return create_tables(self.client("dynamodb"), template)

    def create_secret(self, name: str, value: dict[str, Any]) -> str:
        sm = self.client("secretsmanager")
        return sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]

    def verify_sender(self, sender: str) -> None:
        """SES refuses mail from unverified identities (moto too): verify the address and its
        domain, through both API versions (the function uses SESv2; moto keeps them apart)."""
        address = re.sub(r"^.*<([^>]+)>\s*$", r"\1", sender).strip()
        domain = address.split("@", 1)[-1]
        v2 = self.client("sesv2")
        for identity in (address, domain):
            v2.create_email_identity(EmailIdentity=identity)
        v1 = self.client("ses")
        v1.verify_email_identity(EmailAddress=address)
        v1.verify_domain_identity(Domain=domain)


def create_tables(
    ddb: Any, template: Template, only: Collection[str] | None = None
) -> dict[str, str]:
    """Every AWS::DynamoDB::Table of ``template`` (or those of ``only``, logical ids) with its
    keys, indexes, TTL and stream, made with the DynamoDB client ``ddb``; logical id -> name."""
    names = {}
    for rid in template.of_type("AWS::DynamoDB::Table"):
        if only is not None and rid not in only:
            continue
        props = template.resolve(template.resources[rid].get("Properties", {}))
        name = template.physical_name(rid)
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        throughput = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = throughput
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                indexes = [
                    {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
                    for index in props[key]
                ]
                if request["BillingMode"] == "PROVISIONED" and key.startswith("Global"):
                    for index in indexes:
                        index.setdefault("ProvisionedThroughput", throughput)
                request[key] = indexes
        stream = props.get("StreamSpecification")
        if stream:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        ddb.create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"],
                    "Enabled": True,
                },
            )
        names[rid] = name
    return names
