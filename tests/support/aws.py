"""Fixtures: AWS as moto in server mode on loopback, reached through AWS_ENDPOINT_URL, and a fault proxy."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.fault_proxy import FaultProxy

DEFAULT_REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"  # moto's default account id, which appears in every ARN it returns


@dataclass(frozen=True)
class AwsEnv:
    """The moto endpoint the environment points boto3 at, and helpers for arranging state in tests."""

    endpoint: str
    region: str = DEFAULT_REGION
    account: str = MOTO_ACCOUNT

    def client(self, service: str, region: str | None = None) -> Any:
        """A plain boto3 client straight at moto (bypassing any fault proxy) for arranging/asserting."""
        import boto3

        return boto3.client(service, region_name=region or self.region, endpoint_url=self.endpoint)

    def reset(self) -> None:
        """Forget every resource moto holds (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server per test process on 127.0.0.1, on a free port (port=0)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsEnv:
    """A clean moto, and an environment where any boto3 client reaches it with fake credentials."""
    env = AwsEnv(moto_server)
    env.reset()
    missing = tmp_path / "no-aws-config"
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return env


@pytest.fixture
def fault_proxy(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A FaultProxy in front of moto; AWS_ENDPOINT_URL points at it for clients created afterwards."""
    with FaultProxy(aws.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


def create_function(
    aws: AwsEnv, name: str, layer_arns: list[str], *, region: str = DEFAULT_REGION, publish: bool = False
) -> None:
    """A python3.11 function in moto that uses ``layer_arns`` (with a role, made on first use)."""
    import io
    import zipfile

    iam = aws.client("iam", region)
    try:
        role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    aws.client("lambda", region).create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        Layers=layer_arns,
        Publish=publish,
    )


# ----- test layers ------------------------------------------------------------------------------------


def layer_spec(
    name: str,
    *,
    regions: tuple[str, ...] = (DEFAULT_REGION,),
    sharing: Any = None,
    description: str = "",
    source: Path | None = None,
) -> Any:
    """A python-method LayerSpec with the usual compatibility lists (sharing: a model.Sharing)."""
    from layer_ci.model import BuildSpec, LayerSpec, Sharing

    return LayerSpec(
        name=name,
        source=source or Path("/nonexistent") / name,
        build=BuildSpec(method="files"),
        compatible_runtimes=("python3.11", "python3.12"),
        compatible_architectures=("x86_64",),
        regions=regions,
        license="MIT",
        description=description,
        sharing=sharing or Sharing(),
    )


def build_test_layer(
    out_dir: Path,
    name: str,
    files: dict[str, bytes],
    *,
    regions: tuple[str, ...] = (DEFAULT_REGION,),
    sharing: Any = None,
    description: str = "",
    input_key: str | None = None,
    stored: bool = False,
) -> Any:
    """A BuiltLayer whose zip holds ``files`` (fixed timestamps, so equal files give equal zips)."""
    import hashlib
    import zipfile

    from layer_ci.model import BuiltLayer, Manifest

    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{name}.zip"
    compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "w", compression) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, files[path])
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    key_material = b"".join(p.encode() + b"\0" + files[p] for p in sorted(files))
    key = input_key or "sha256:" + hashlib.sha256(key_material).hexdigest()
    manifest_path = out_dir / f"{name}.manifest.json"
    manifest_path.write_text("{}\n")
    manifest = Manifest(
        layer=name,
        input_key=key,
        zip_sha256=digest,
        zipped_bytes=zip_path.stat().st_size,
        unzipped_bytes=sum(len(v) for v in files.values()),
        files=tuple(sorted((p, len(v)) for p, v in files.items())),
        packages=(),
    )
    spec = layer_spec(name, regions=regions, sharing=sharing, description=description)
    return BuiltLayer(spec=spec, zip_path=zip_path, manifest_path=manifest_path, manifest=manifest)
