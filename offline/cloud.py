"""Create what the synthesized template defines, on the offline AWS (moto), and resolve its references.

This is a small CloudFormation for the resource types the pipeline's template holds: buckets, the key,
the idempotency table, the topic, roles, functions (their code runs in-process, see ``router.py``), the
state machine (its definition as synthesized, references resolved), the roles' policies (put on the roles,
which moto's IAM access control enforces when the runtime turns it on: offline.iam_enforcement) and the S3
upload trigger. Log groups and the like are accepted and not simulated."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Resource:
    logical_id: str
    type: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class DeployedStack:
    template: dict[str, Any]
    resources: dict[str, Resource]
    outputs: dict[str, str]

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    def function_handlers(self) -> dict[str, str]:
        """Function name -> handler string, as deployed."""
        props = self.template["Resources"]
        return {r.ref: props[r.logical_id]["Properties"]["Handler"] for r in self.of_type("AWS::Lambda::Function")}


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split and pseudo parameters."""

    def __init__(self, resources: dict[str, Resource]) -> None:
        self.resources = resources
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "BedrockCustomization",
            "AWS::NoValue": None,
        }

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.resources:
            raise KeyError(f"Ref to {name}, which is not created (yet)")
        return self.resources[name].ref

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources[name]
        if attribute not in resource.attributes:
            raise KeyError(f"Fn::GetAtt {name}.{attribute} is not known offline")
        return resource.attributes[attribute]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            intrinsic = self._intrinsics().get(key)
            if intrinsic is not None:
                return intrinsic(arg)
        return {k: self(v) for k, v in value.items()}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self.ref,
            "Fn::GetAtt": lambda arg: self.get_att(*(arg if isinstance(arg, list) else arg.split(".", 1))),
            "Fn::Join": lambda arg: arg[0].join(str(p) for p in self(arg[1])),
            "Fn::Select": lambda arg: self(arg[1])[int(self(arg[0]))],
            "Fn::Split": lambda arg: str(self(arg[1])).split(arg[0]),
            "Fn::Sub": self._sub,
        }

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2 : end]
            if name in variables:
                out.append(str(variables[name]))
            elif "." in name:
                out.append(self.get_att(*name.split(".", 1)))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        return "".join(out)


def _physical_name(logical_id: str, suffix: str = "") -> str:
    return f"{logical_id.lower()[:40]}{suffix}".replace("_", "-")


def _stable_key_id(key_id: str, logical_id: str) -> tuple[str, str]:
    """Give the key made for ``logical_id`` the same id in every deployment (moto's, in this process): the other
    names of the stack are made from logical ids, and a handler module reads its environment (KMS_KEY_ARN) once, at
    import, so a stack deployed again after a test wiped moto's backends must have the same key ARN."""
    from moto.kms.models import kms_backends

    backend = kms_backends[ACCOUNT][REGION]
    stable = str(uuid.uuid5(uuid.NAMESPACE_URL, f"offline-stack:{logical_id}"))
    key = backend.keys.pop(key_id)
    key.id = stable
    key.arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{stable}"
    backend.keys[stable] = key
    return stable, key.arn


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The offline runtime runs this function's handler in-process.")
    return buffer.getvalue()


class Deployer:
    """Creates the template's resources in dependency order on moto (clients from the environment)."""

    ORDER = (
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::SNS::Topic",
        "AWS::Logs::LogGroup",
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::IAM::Policy",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Events::Rule",
        "Custom::S3BucketNotifications",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    )

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = template
        self.resources: dict[str, Resource] = {}
        self.resolve = Resolver(self.resources)
        self.deferred_environment: list[tuple[str, dict[str, Any]]] = []
        # Key policies name roles made after the key: put once every resource exists (as the key policy of the
        # template; the Bedrock emulator evaluates it for the calls it serves).
        self.deferred_key_policies: list[tuple[str, dict[str, Any]]] = []

    def deploy(self) -> DeployedStack:
        by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for logical_id, spec in self.template["Resources"].items():
            by_type.setdefault(spec["Type"], []).append((logical_id, spec.get("Properties", {})))
        for resource_type in self.ORDER:
            for logical_id, props in by_type.get(resource_type, []):
                creator = getattr(self, "_" + resource_type.split("::", 1)[1].replace("::", "_").lower())
                self.resources[logical_id] = creator(logical_id, props)
        for key_id, policy in self.deferred_key_policies:
            boto3.client("kms").put_key_policy(
                KeyId=key_id, PolicyName="default", Policy=json.dumps(self.resolve(policy))
            )
        for function_name, variables in self.deferred_environment:
            boto3.client("lambda").update_function_configuration(
                FunctionName=function_name,
                Environment={"Variables": {k: str(v) for k, v in self.resolve(variables).items()}},
            )
        outputs = {}
        for name, output in self.template.get("Outputs", {}).items():
            try:
                outputs[name] = str(self.resolve(output["Value"]))
            except KeyError:
                continue
        return DeployedStack(self.template, dict(self.resources), outputs)

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> Resource:
        created = boto3.client("kms").create_key(Description=props.get("Description", logical_id))["KeyMetadata"]
        key_id, arn = _stable_key_id(created["KeyId"], logical_id)
        if props.get("KeyPolicy"):
            self.deferred_key_policies.append((key_id, props["KeyPolicy"]))
        return Resource(logical_id, "AWS::KMS::Key", key_id, {"Arn": arn})

    def _s3_bucket(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = props.get("BucketName") or _physical_name(logical_id, "-offline")
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if props.get("BucketEncryption"):
            # The bucket's default encryption (the stack key for the data and artifacts buckets): what S3 asks of
            # KMS for a reader or writer, which the Bedrock emulator checks for the roles it acts as.
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in self.resolve(props["BucketEncryption"])["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        attributes = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }
        return Resource(logical_id, "AWS::S3::Bucket", name, attributes)

    def _dynamodb_table(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = props.get("TableName") or _physical_name(logical_id)
        extra: dict[str, Any] = {}
        if props.get("GlobalSecondaryIndexes"):
            extra["GlobalSecondaryIndexes"] = [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in props["GlobalSecondaryIndexes"]
            ]
        table = boto3.client("dynamodb").create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )["TableDescription"]
        return Resource(logical_id, "AWS::DynamoDB::Table", name, {"Arn": table["TableArn"]})

    def _sns_topic(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = props.get("TopicName") or _physical_name(logical_id)
        arn = boto3.client("sns").create_topic(Name=name)["TopicArn"]
        return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})

    def _logs_loggroup(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = props.get("LogGroupName")
        name = self.resolve(name) if name else f"/offline/{logical_id}"
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        return Resource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn})

    def _iam_role(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = props.get("RoleName") or _physical_name(logical_id)
        role = boto3.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(self.resolve(props["AssumeRolePolicyDocument"]))
        )["Role"]
        return Resource(logical_id, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _iam_policy(self, logical_id: str, props: dict[str, Any]) -> Resource:
        # The roles' policies as synthesized: moto's IAM access control (offline.iam_enforcement) decides by them.
        name = props.get("PolicyName") or logical_id
        document = json.dumps(self.resolve(props["PolicyDocument"]))
        iam = boto3.client("iam")
        for role in self.resolve(props.get("Roles", [])):
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)
        return Resource(logical_id, "AWS::IAM::Policy", name)

    def _lambda_function(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = props.get("FunctionName") or _physical_name(logical_id)
        variables = props.get("Environment", {}).get("Variables", {})
        try:
            env = self.resolve(variables)
        except KeyError:
            # It names a resource created after functions (the trigger names the state machine, which names
            # the functions): create it now, set its variables once everything exists.
            self.deferred_environment.append((name, variables))
            env = {}
        function = boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime=props.get("Runtime", "python3.12"),
            Role=self.resolve(props["Role"]),
            Handler=props["Handler"],
            Code={"ZipFile": _dummy_zip()},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": {k: str(v) for k, v in env.items()}},
        )
        return Resource(logical_id, "AWS::Lambda::Function", name, {"Arn": function["FunctionArn"]})

    def _stepfunctions_statemachine(self, logical_id: str, props: dict[str, Any]) -> Resource:
        definition = props.get("DefinitionString")
        text = self.resolve(definition) if definition is not None else json.dumps(self.resolve(props["Definition"]))
        name = props.get("StateMachineName") or _physical_name(logical_id)
        arn = boto3.client("stepfunctions").create_state_machine(
            name=name,
            definition=text,
            roleArn=self.resolve(props["RoleArn"]),
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        return Resource(
            logical_id, "AWS::StepFunctions::StateMachine", arn, {"Name": name, "Arn": arn, "Definition": text}
        )

    def _lambda_eventinvokeconfig(self, logical_id: str, props: dict[str, Any]) -> Resource:
        function = self.resolve(props["FunctionName"])
        config = {k: self.resolve(v) for k, v in props.items() if k not in ("FunctionName", "Qualifier")}
        boto3.client("lambda").put_function_event_invoke_config(FunctionName=function, **config)
        return Resource(logical_id, "AWS::Lambda::EventInvokeConfig", function)

    def _events_rule(self, logical_id: str, props: dict[str, Any]) -> Resource:
        # Created on moto for inspection; offline.events delivers what a status-change rule matches (moto's does
        # not reach Lambda). A schedule (the sweeper's) does not fire offline: invoke its target through moto's
        # Lambda API instead, as the tests do (the router runs the handler).
        name = props.get("Name") or _physical_name(logical_id)
        events = boto3.client("events")
        if "ScheduleExpression" in props:
            trigger = {"ScheduleExpression": props["ScheduleExpression"]}
        else:
            trigger = {"EventPattern": json.dumps(self.resolve(props["EventPattern"]))}
        arn = events.put_rule(Name=name, State=props.get("State", "ENABLED"), **trigger)["RuleArn"]
        targets = [{"Id": t["Id"], "Arn": self.resolve(t["Arn"])} for t in props.get("Targets", [])]
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        return Resource(logical_id, "AWS::Events::Rule", name, {"Arn": arn})

    def _cloudwatch_alarm(self, logical_id: str, props: dict[str, Any]) -> Resource:
        # Created on moto for inspection only: nothing emits metrics offline (Powertools metrics go to the logs,
        # AWS/States and AWS/Lambda are not simulated), so the alarms never change state here.
        name = props.get("AlarmName") or _physical_name(logical_id)
        settings = {k: v for k, v in self.resolve(props).items() if k != "AlarmName"}
        boto3.client("cloudwatch").put_metric_alarm(AlarmName=name, **settings)
        arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
        return Resource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": arn})

    def _cloudwatch_dashboard(self, logical_id: str, props: dict[str, Any]) -> Resource:
        name = _physical_name(logical_id)  # the template's name is per stack and region: any name does offline
        boto3.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=self.resolve(props["DashboardBody"]))
        return Resource(logical_id, "AWS::CloudWatch::Dashboard", name)

    def _s3bucketnotifications(self, logical_id: str, props: dict[str, Any]) -> Resource:
        config = self.resolve(props.get("NotificationConfiguration", {}))
        bucket = self.resolve(props["BucketName"])
        s3 = boto3.client("s3")
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
        return Resource(logical_id, "Custom::S3BucketNotifications", bucket)
