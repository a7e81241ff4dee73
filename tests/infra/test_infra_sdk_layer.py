"""The SDK layer (stacks/sdk_layer.py): the pinned boto3, botocore and s3transfer on every function, staged at
synth from the installed distributions, trimmed to the services the code calls, and the same bytes (the same
asset hash) on every synth; a version that is not the pin stops synthesis with a message that says so."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_

from stacks import constants
from stacks.sdk_layer import PACKAGES, SdkLayer, SdkPinError, check_pins, stage_sdk_layer
from tests.infra.template_tools import Synthesized

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
DIST_INFOS = {"boto3", "botocore", "s3transfer"}
# Full botocore is over 30 MB; the trimmed layer is about 5 MB.
MAX_LAYER_BYTES = 10 * 1024 * 1024


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9._-]+)(\[.*\])?==(\S+)", line.strip())
        if match:
            pins[match.group(1)] = match.group(3)
    return pins


PINS = {name: _pins(REQUIREMENTS)[name] for name in PACKAGES}


def _asset_dir(synth: Synthesized, s3_key: str) -> Path:
    (assets,) = synth.outdir.glob("*.assets.json")
    files = json.loads(assets.read_text())["files"]
    (entry,) = [f for f in files.values() if any(d["objectKey"] == s3_key for d in f["destinations"].values())]
    return Path(synth.outdir / entry["source"]["path"])


@pytest.fixture(scope="module")
def layer_id(synth: Synthesized) -> str:
    return synth.logical_id(synth.stack.functions.sdk_layer)


@pytest.fixture(scope="module")
def layer(synth: Synthesized, layer_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = synth.resources[layer_id]["Properties"]
    return properties


@pytest.fixture(scope="module")
def layer_python(synth: Synthesized, layer: dict[str, Any]) -> Path:
    """The layer's python/ directory, as the synthesized cloud assembly holds it for upload."""
    return _asset_dir(synth, layer["Content"]["S3Key"]) / "python"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- the layer and the functions ------------------------------------------------------------------


def test_the_stack_has_one_sdk_layer_for_the_functions_runtime(synth: Synthesized, layer: dict[str, Any]) -> None:
    assert len(synth.of_type("AWS::Lambda::LayerVersion")) == 1
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == ["x86_64"]
    for name, version in PINS.items():
        assert f"{name} {version}" in layer["Description"]
    assert layer["Content"]["S3Key"].endswith(".zip")


def test_every_function_of_the_pipeline_has_the_sdk_layer(
    synth: Synthesized, functions_by_module: dict[str, str], layer_id: str
) -> None:
    assert len(functions_by_module) == 18  # the 17 steps and triggers, and the reward function
    for module, function_id in functions_by_module.items():
        layers = synth.resources[function_id]["Properties"]["Layers"]
        assert {"Ref": layer_id} in layers, module
        assert layers[0] != {"Ref": layer_id}, "the Powertools layer, then the SDK layer"
        assert synth.resources[function_id]["Properties"]["Runtime"] == "python3.12"


def test_the_pins_are_those_of_both_requirements_files() -> None:
    dev = _pins(ROOT / "requirements-dev.txt")
    assert set(PINS) == DIST_INFOS
    for name, version in PINS.items():
        assert dev.get(name, version) == version, name
    assert check_pins() == PINS


# --- what the layer holds ---------------------------------------------------------------------------


def test_the_layer_holds_the_pinned_packages_and_nothing_else(layer_python: Path) -> None:
    expected = DIST_INFOS | {f"{name}-{version}.dist-info" for name, version in PINS.items()}
    assert {p.name for p in layer_python.iterdir()} == expected
    for name, version in PINS.items():
        metadata = (layer_python / f"{name}-{version}.dist-info" / "METADATA").read_text()
        assert f"\nName: {name}\n" in metadata
        assert f"\nVersion: {version}\n" in metadata
    names = [p.relative_to(layer_python).as_posix() for p in layer_python.rglob("*")]
    assert [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo", ".so"))] == []
    assert [n for n in names if n.rsplit("/", 1)[-1] in {"INSTALLER", "REQUESTED", "direct_url.json"}] == []
    assert sum(p.stat().st_size for p in layer_python.rglob("*") if p.is_file()) < MAX_LAYER_BYTES


def test_botocore_models_are_the_listed_services_and_its_data_files(layer_python: Path) -> None:
    import botocore

    installed = Path(botocore.__file__).parent / "data"
    staged = layer_python / "botocore" / "data"
    assert sorted(p.name for p in staged.iterdir() if p.is_dir()) == sorted(constants.SDK_LAYER_SERVICES)
    top_level = sorted(p.name for p in installed.iterdir() if p.is_file())
    assert {"endpoints.json", "partitions.json", "sdk-default-configuration.json", "_retry.json"} <= set(top_level)
    assert sorted(p.name for p in staged.iterdir() if p.is_file()) == top_level
    for service in constants.SDK_LAYER_SERVICES:
        assert _files(staged / service) == _files(installed / service), service


def test_each_record_lists_exactly_the_staged_files_of_its_package(layer_python: Path) -> None:
    for name, version in PINS.items():
        info = f"{name}-{version}.dist-info"
        rows = [line.split(",") for line in (layer_python / info / "RECORD").read_text().splitlines()]
        listed = {path: (digest, size) for path, digest, size in rows}
        assert listed.pop(f"{info}/RECORD") == ("", "")
        on_disk = {
            p.relative_to(layer_python).as_posix(): p.read_bytes()
            for p in layer_python.rglob("*")
            if p.is_file() and p.relative_to(layer_python).parts[0] in {name, info}
        }
        on_disk.pop(f"{info}/RECORD")
        assert listed.keys() == on_disk.keys()
        for path, data in on_disk.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert listed[path] == (f"sha256={digest}", str(len(data))), path


def test_the_staged_files_have_fixed_modes(synth: Synthesized) -> None:
    staged = synth.stack.functions.sdk_layer.staged.path
    modes = {p.stat().st_mode & 0o777 for p in staged.rglob("*") if p.is_file()}
    assert modes == {0o644}
    assert {p.stat().st_mode & 0o777 for p in [staged, *staged.rglob("*")] if p.is_dir()} == {0o755}


# --- the layer's SDK works on its own -------------------------------------------------------------

# One call per service, as the functions make it; the request is stopped just before it is sent.
PROBES: dict[str, tuple[str, dict[str, Any]]] = {
    "bedrock": ("get_foundation_model", {"modelIdentifier": "amazon.nova-micro-v1:0"}),
    "bedrock-runtime": ("converse", {"modelId": "m", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
    "dynamodb": ("get_item", {"TableName": "t", "Key": {"id": {"S": "x"}}}),
    "lambda": ("invoke", {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:grader", "Payload": "[]"}),
    "s3": ("get_object", {"Bucket": "bucket", "Key": "key"}),
    "sns": ("publish", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"}),
    "stepfunctions": (
        "describe_execution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:machine:run"},
    ),
}

_PROBE_SCRIPT = r"""
import json, sys
layer, site_packages, probes, methods = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
# Only boto3, botocore and s3transfer from the layer; urllib3, jmespath and dateutil (the runtime's, in Lambda)
# from the test environment, after it.
sys.path[:0] = [layer, site_packages]
import importlib.metadata
import boto3, botocore, s3transfer

class Stopped(Exception):
    pass

def stop(request, **kwargs):
    signed = request.headers.get("Authorization", "")
    signed = signed.decode() if isinstance(signed, bytes) else signed
    raise Stopped(json.dumps({"url": request.url, "signed": signed}))

result = {
    "files": {m.__name__: m.__file__ for m in (boto3, botocore, s3transfer)},
    "versions": {n: importlib.metadata.version(n) for n in ("boto3", "botocore", "s3transfer")},
    "module_versions": {"boto3": boto3.__version__, "botocore": botocore.__version__, "s3transfer": s3transfer.__version__},
    "services": boto3.session.Session().get_available_services(),
    "requests": {},
    "operations": {},
    "missing_methods": [],
}
for service, (operation, params) in probes.items():
    client = boto3.client(service)
    result["operations"][service] = client.meta.service_model.operation_names
    result.setdefault("paginated", {})[service] = [
        name for name in client.meta.service_model.operation_names if client.can_paginate(botocore.xform_name(name))
    ]
    client.meta.events.register("before-send", stop)
    try:
        getattr(client, operation)(**params)
    except Stopped as sent:
        result["requests"][service] = json.loads(str(sent))
for service, method, paginated in methods:
    client = boto3.client(service)
    if not hasattr(client, method) or (paginated and not client.can_paginate(method)):
        result["missing_methods"].append([service, method])
result["loaded_elsewhere"] = sorted(
    name for name, module in sys.modules.items()
    if name.split(".")[0] in {"boto3", "botocore", "s3transfer"}
    and getattr(module, "__file__", None) and not module.__file__.startswith(layer)
)
print(json.dumps(result))
"""

_CLIENT = re.compile(r"""\bclient\(\s*["']([\w-]+)["']""")
_DIRECT_CALL = re.compile(r"""aws\.client\(\s*"([\w-]+)"[^)]*\)\.(\w+)\(""")
_ASSIGNED = re.compile(r"""^\s*(\w+) = aws\.client\(\s*"([\w-]+)"[^)]*\)\s*$""", re.MULTILINE)
_PAGINATOR = re.compile(r"""aws\.client\(\s*"([\w-]+)"[^)]*\)\.get_paginator\(\s*"(\w+)"\)""")


def _code_files() -> list[Path]:
    return [p for p in sorted((ROOT / "lambdas").rglob("*.py")) if "tests" not in p.relative_to(ROOT).parts]


def _methods_the_code_calls() -> set[tuple[str, str, bool]]:
    """(service, method, paginated) the code calls on its clients, as far as a regex sees: ``client.method(``
    and ``client.get_paginator("method")``, on ``aws.client("...")`` or a variable assigned one."""
    calls: set[tuple[str, str, bool]] = set()
    for path in _code_files():
        text = path.read_text()
        calls |= {(s, m, False) for s, m in _DIRECT_CALL.findall(text) if m != "get_paginator"}
        calls |= {(s, m, True) for s, m in _PAGINATOR.findall(text)}
        for variable, service in _ASSIGNED.findall(text):
            methods = re.findall(rf"\b{variable}\.(\w+)\(", text)
            calls |= {(service, m, False) for m in methods if m != "get_paginator"}
            calls |= {(service, m, True) for m in re.findall(rf"\b{variable}\.get_paginator\(\s*\"(\w+)\"", text)}
    return calls


@pytest.fixture(scope="module")
def probed(layer_python: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # not a secret: no request is sent
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(layer_python / "no-such-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(layer_python / "no-such-credentials"),
    )
    methods = sorted(_methods_the_code_calls())
    command = [
        sys.executable,
        "-I",  # no PYTHONPATH, no user site
        "-B",  # no bytecode written into the layer
        "-S",  # no site-packages but the ones the script puts after the layer
        "-c",
        _PROBE_SCRIPT,
        str(layer_python),
        sysconfig.get_paths()["purelib"],
        json.dumps(PROBES),
        json.dumps(methods),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_the_code_makes_clients_of_the_listed_services_only() -> None:
    named = set()
    for path in _code_files():
        text = path.read_text()
        named |= set(_CLIENT.findall(text))
        if path.name != "aws.py":  # customizer/aws.py's client(service) is the one place a client is made
            assert not re.search(r"""\bclient\(\s*[^"'\s)]""", text), path
        assert "boto3.resource(" not in text, path
    assert named, "the regex found no client at all"
    # dynamodb also for Powertools' idempotency persistence layer.
    assert named | {"dynamodb"} <= set(constants.SDK_LAYER_SERVICES)
    assert set(PROBES) == set(constants.SDK_LAYER_SERVICES)


def test_the_layers_boto3_is_the_pin_and_is_imported_from_the_layer(probed: dict[str, Any], layer_python: Path) -> None:
    for name, file in probed["files"].items():
        assert Path(file).is_relative_to(layer_python), (name, file)
    assert probed["loaded_elsewhere"] == []
    assert probed["versions"] == PINS
    assert probed["module_versions"] == PINS
    assert probed["services"] == sorted(constants.SDK_LAYER_SERVICES)


def test_the_layers_boto3_makes_and_signs_a_request_of_every_service(probed: dict[str, Any]) -> None:
    hosts = {
        "bedrock": "https://bedrock.us-east-1.amazonaws.com/",
        "bedrock-runtime": "https://bedrock-runtime.us-east-1.amazonaws.com/",
        "dynamodb": "https://dynamodb.us-east-1.amazonaws.com/",
        "lambda": "https://lambda.us-east-1.amazonaws.com/",
        "s3": "https://bucket.s3.amazonaws.com/",
        "sns": "https://sns.us-east-1.amazonaws.com/",
        "stepfunctions": "https://states.us-east-1.amazonaws.com/",
    }
    assert probed["requests"].keys() == hosts.keys()
    for service, request in probed["requests"].items():
        assert request["url"].startswith(hosts[service]), (service, request["url"])
        assert request["signed"].startswith("AWS4-HMAC-SHA256 Credential=testing/"), service


def test_the_layers_models_have_every_call_the_code_and_the_roles_make(
    probed: dict[str, Any], function_statements: dict[str, list[dict[str, Any]]]
) -> None:
    calls = _methods_the_code_calls()
    assert ("bedrock", "create_custom_model_deployment", False) in calls, "the regex no longer finds the calls"
    assert ("stepfunctions", "get_execution_history", True) in calls
    assert probed["missing_methods"] == []
    # Every Bedrock API a role allows is an operation of the layer's bedrock or bedrock-runtime model.
    operations = set(probed["operations"]["bedrock"]) | set(probed["operations"]["bedrock-runtime"])
    allowed = {
        action.split(":", 1)[1]
        for statements in function_statements.values()
        for statement in statements
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if action.startswith("bedrock:")
    }
    assert {"CreateCustomModelDeployment", "GetFoundationModel", "CreateModelCustomizationJob"} <= allowed
    assert allowed - operations == set()
    # The code reads every list it is allowed (ListCustomModelDeployments...) through a paginator.
    listed = {a for a in allowed if a.startswith("List") and a != "ListTagsForResource"}
    assert listed
    assert listed - set(probed["paginated"]["bedrock"]) == set()


# --- deterministic, and checked against the pins -------------------------------------------------


def _synthesize_layer(build_dir: Path, requirements: Path = REQUIREMENTS) -> tuple[str, Path]:
    """A stack with only the SDK layer, synthesized: (the layer's S3 key, its staged directory)."""
    app = App()
    stack = Stack(app, "Probe")
    sdk = SdkLayer(
        stack,
        "Sdk",
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.X86_64,
        requirements=requirements,
        build_dir=build_dir,
    )
    template = app.synth().get_stack_by_name("Probe").template
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    return str(resource["Properties"]["Content"]["S3Key"]), sdk.staged.path


def test_the_asset_is_the_same_on_every_synth(tmp_path: Path, layer: dict[str, Any], layer_python: Path) -> None:
    first_key, first = _synthesize_layer(tmp_path / "first")
    second_key, second = _synthesize_layer(tmp_path / "second")
    assert first_key == second_key == layer["Content"]["S3Key"]
    assert first.name == second.name
    assert _files(first) == _files(second) == _files(layer_python.parent)
    # A synth that finds the staged directory uses it as it is.
    again_key, again = _synthesize_layer(tmp_path / "first")
    assert (again_key, again) == (first_key, first)
    assert [p.name for p in (tmp_path / "first").iterdir()] == [first.name]


def test_a_staged_directory_changed_by_hand_is_staged_again(tmp_path: Path) -> None:
    staged = stage_sdk_layer(build_dir=tmp_path)
    (staged.path / "python" / "botocore" / "__init__.py").write_text("broken")
    (staged.path / "python" / "extra.py").write_text("")
    assert _files(stage_sdk_layer(build_dir=tmp_path).path) == _files(stage_sdk_layer(build_dir=tmp_path / "b").path)


def _requirements(tmp_path: Path, **versions: str) -> Path:
    """A requirements file like lambdas/requirements.txt, with other versions (or, given "", no pin)."""
    pins = {**PINS, **versions}
    path = tmp_path / "requirements.txt"
    lines = ["# a comment", "aws-lambda-powertools[tracer,parser]==3.37.0"]
    path.write_text("\n".join([*lines, *(f"{name}=={v}  # pinned" for name, v in pins.items() if v), ""]))
    return path


@pytest.mark.parametrize("package", sorted(DIST_INFOS))
def test_a_version_that_is_not_the_pin_stops_synthesis(tmp_path: Path, package: str) -> None:
    requirements = _requirements(tmp_path, **{package: "0.0.1"})
    with pytest.raises(SdkPinError) as raised:
        _synthesize_layer(tmp_path / "build", requirements)
    message = str(raised.value)
    assert str(requirements) in message
    assert f"pins {package}==0.0.1" in message
    assert f"{package} {PINS[package]} installed" in message
    assert not (tmp_path / "build").exists()


def test_a_package_without_a_pin_stops_synthesis(tmp_path: Path) -> None:
    requirements = _requirements(tmp_path, s3transfer="")
    with pytest.raises(SdkPinError, match=r"pins no version of s3transfer") as raised:
        _synthesize_layer(tmp_path / "build", requirements)
    assert str(requirements) in str(raised.value)


def test_a_pinned_package_that_is_not_installed_is_named(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("no-such-sdk-package==1.0\n")
    with pytest.raises(SdkPinError, match=r"pins no-such-sdk-package==1.0, but no-such-sdk-package is not installed"):
        check_pins(requirements, packages=["no-such-sdk-package"])


def test_the_repository_requirements_file_is_named_relative_to_the_root() -> None:
    with pytest.raises(SdkPinError, match=r"^lambdas/requirements.txt pins no version of no-such-sdk-package"):
        check_pins(packages=["no-such-sdk-package"])
