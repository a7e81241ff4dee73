"""The pinned AWS SDK for Python (boto3, botocore, s3transfer) as a Lambda layer, so the functions do not run
on whatever boto3 the Lambda runtime ships (the handlers call recent Bedrock APIs an older one lacks).

At synth, the layer is staged from the synth environment's own installed distributions (their files, found
with ``importlib.metadata``): no Docker, no network. The installed versions must equal the pins in
``lambdas/requirements.txt``, or synthesis stops naming the file and both versions. botocore's service models
are cut to the services the functions call (``constants.SDK_LAYER_SERVICES``); its top-level data files
(endpoints, partitions, retry and default configuration) stay. The other dependencies of botocore (urllib3,
jmespath, python-dateutil) come from the runtime, which ships them for its own boto3.

The staged directory, ``.build/sdk-layer/<digest>/python/...`` (git-ignored), is named after a digest of
every file it holds, written once and then only read: the same installed versions give the same bytes, hence
the same asset hash (no bytecode, no caches, fixed file modes, a RECORD listing exactly what is staged)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks import constants

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
BUILD_DIR = ROOT / ".build" / "sdk-layer"
# The distributions the layer carries, each pinned with == in REQUIREMENTS.
PACKAGES = ("boto3", "botocore", "s3transfer")
# dist-info files that describe an installation, not the package (RECORD is written anew for what is staged).
_INSTALLATION_FILES = frozenset({"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"})
_FILE_MODE = 0o644
_DIR_MODE = 0o755
# Unfinished stagings of another process (hidden temporary directories) are removed once this old.
_STALE_TEMPORARY_SECONDS = 3600
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


class SdkPinError(RuntimeError):
    """The SDK the synth environment has installed is not the one the requirements file pins."""


@dataclass(frozen=True)
class StagedSdk:
    """A staged layer directory (holding ``python/``) and the versions in it."""

    path: Path
    versions: dict[str, str]
    digest: str


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def read_pins(requirements: Path) -> dict[str, str]:
    """Exact pins (``name==version``) of a requirements file, by normalized name."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        match = _PIN.match(line.split("#", 1)[0].strip())
        if match:
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def check_pins(requirements: Path = REQUIREMENTS, packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """The installed versions of ``packages``; SdkPinError unless each equals its pin in ``requirements``."""
    pins = read_pins(requirements)
    versions: dict[str, str] = {}
    for name in packages:
        pinned = pins.get(_normalize(name))
        if pinned is None:
            raise SdkPinError(
                f"{_shown(requirements)} pins no version of {name} (a '{name}==<version>' line): the Lambda SDK "
                "layer ships only pinned versions"
            )
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise SdkPinError(
                f"{_shown(requirements)} pins {name}=={pinned}, but {name} is not installed in the synth "
                "environment (make install installs the pinned versions)"
            ) from None
        if installed != pinned:
            raise SdkPinError(
                f"{_shown(requirements)} pins {name}=={pinned}, but the synth environment has {name} {installed} "
                "installed: the Lambda SDK layer is copied from the installed distribution, so install the pinned "
                "version (make install) or change the pin"
            )
        versions[name] = installed
    return versions


def _kept(relative: PurePosixPath, tops: set[str], info: str, services: set[str]) -> bool:
    """Whether a file of a distribution goes into the layer."""
    parts = relative.parts
    if parts[0] == info:
        return parts[-1] not in _INSTALLATION_FILES
    if parts[0] not in tops or "__pycache__" in parts or relative.suffix in {".pyc", ".pyo"}:
        return False
    # botocore/data/<service>/<api version>/...: only the listed services; files directly in data/ all stay.
    if parts[:2] == ("botocore", "data") and len(parts) > 3:
        return parts[2] in services
    return True


def _record_line(relative: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{relative},sha256={digest},{len(data)}"


def _distribution_files(name: str, services: set[str]) -> dict[str, bytes]:
    """The files of an installed distribution that the layer holds, by path under ``python/``, and a RECORD."""
    distribution = importlib.metadata.distribution(name)
    entries = [PurePosixPath(str(entry)) for entry in distribution.files or []]
    infos = {e.parts[0] for e in entries if e.parts[0].endswith(".dist-info")}
    if len(infos) != 1:
        raise SdkPinError(f"{name} {distribution.version} is not installed from a wheel (no single .dist-info)")
    (info,) = infos
    tops = set((distribution.read_text("top_level.txt") or name).split())
    wheel = distribution.read_text("WHEEL") or ""
    if "Root-Is-Purelib: true" not in wheel:
        raise SdkPinError(f"{name} {distribution.version} is not a pure-Python wheel: it cannot be copied into a layer")
    files: dict[str, bytes] = {}
    for relative in entries:
        if ".." in relative.parts or not _kept(relative, tops, info, services):
            continue
        source = Path(str(distribution.locate_file(relative)))
        if source.suffix in {".so", ".pyd"}:
            raise SdkPinError(f"{name} {distribution.version} has a compiled module ({relative}): not copied")
        files[relative.as_posix()] = source.read_bytes()
    if not files:
        raise SdkPinError(f"{name} {distribution.version} lists no files (its RECORD is missing)")
    record = f"{info}/RECORD"
    lines = [_record_line(path, data) for path, data in sorted(files.items())]
    files[record] = "\n".join([*lines, f"{record},,", ""]).encode()
    return files


def _plan(services: Sequence[str]) -> dict[str, bytes]:
    wanted = set(services)
    files: dict[str, bytes] = {}
    for name in PACKAGES:
        files.update(_distribution_files(name, wanted))
    modelled = {p.split("/")[2] for p in files if p.startswith("botocore/data/") and p.count("/") > 3}
    missing = sorted(wanted - modelled)
    if missing:
        raise SdkPinError(f"botocore {importlib.metadata.version('botocore')} has no model of {', '.join(missing)}")
    return {f"python/{path}": data for path, data in files.items()}


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path, data in sorted(files.items()):
        digest.update(f"{path}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return digest.hexdigest()[:20]


def _holds_exactly(directory: Path, files: dict[str, bytes]) -> bool:
    found = {p.relative_to(directory).as_posix(): p for p in directory.rglob("*") if p.is_file()}
    return found.keys() == files.keys() and all(found[k].read_bytes() == v for k, v in files.items())


def _write(directory: Path, files: dict[str, bytes]) -> None:
    for relative, data in sorted(files.items()):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(_FILE_MODE)
    for path in [directory, *(p for p in directory.rglob("*") if p.is_dir())]:
        path.chmod(_DIR_MODE)


def _remove_stale(build_dir: Path, keep: str) -> None:
    """Stagings of other versions, and unfinished ones of crashed processes; concurrent ones stay."""
    for entry in build_dir.iterdir():
        if entry.name == keep:
            continue
        if entry.name.startswith(".") and time.time() - entry.stat().st_mtime < _STALE_TEMPORARY_SECONDS:
            continue
        shutil.rmtree(entry, ignore_errors=True)


def stage_sdk_layer(
    *,
    requirements: Path = REQUIREMENTS,
    build_dir: Path = BUILD_DIR,
    services: Sequence[str] = constants.SDK_LAYER_SERVICES,
) -> StagedSdk:
    """Check the pins, then stage the layer under ``build_dir`` (once per content; concurrent synths are safe:
    each writes a temporary directory and renames it into place)."""
    versions = check_pins(requirements)
    files = _plan(services)
    digest = _digest(files)
    build_dir.mkdir(parents=True, exist_ok=True)
    final = build_dir / digest
    if final.is_dir() and not _holds_exactly(final, files):
        shutil.rmtree(final)  # changed by hand since it was staged: stage it again
    if not final.is_dir():
        temporary = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=build_dir))
        try:
            _write(temporary, files)
            os.rename(temporary, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another synth renamed the same content into place first.
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    _remove_stale(build_dir, keep=digest)
    return StagedSdk(path=final, versions=versions, digest=digest)


def describe(versions: dict[str, str], services: Iterable[str]) -> str:
    """The layer's description: what it holds."""
    packages = ", ".join(f"{name} {version}" for name, version in versions.items())
    return f"Pinned AWS SDK for the pipeline's functions: {packages}; botocore models of {', '.join(services)}"


class SdkLayer(lambda_.LayerVersion):
    """The layer with the pinned boto3, botocore and s3transfer, for functions of ``runtime`` on
    ``architecture`` (the packages are pure Python; the layer is labelled for the functions that use it)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        requirements: Path = REQUIREMENTS,
        build_dir: Path = BUILD_DIR,
        services: Sequence[str] = constants.SDK_LAYER_SERVICES,
    ) -> None:
        staged = stage_sdk_layer(requirements=requirements, build_dir=build_dir, services=services)
        super().__init__(
            scope,
            construct_id,
            code=lambda_.Code.from_asset(str(staged.path)),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description=describe(staged.versions, services),
            license="Apache-2.0",
        )
        self.staged = staged
