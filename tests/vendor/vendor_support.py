"""A consumer repository pinning a "vendor" layer that moto serves, and a loopback server for its zips.

moto keeps one account per set of credentials and cannot read another account's layers, so the vendor's
layer lives in moto's account (123456789012) and the consumer's layer-ci.yml says its own account is
210987654321: to layer-ci the moto account is a vendor. moto answers GetLayerVersion with
``Content.Location: s3://``; real Lambda answers a presigned HTTPS URL. A FaultProxy rule in front of
moto gives the new version's GetLayerVersion that real shape, pointing at ``ZipServer`` on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME
from tests.report.bump_repo import GREETER_APP, GREETER_TEST, SHOUTER_APP, SHOUTER_TEST, TEST_ARGV
from tests.support.aws import AwsEnv
from tests.support.fault_proxy import FaultProxy, FaultRule
from tests.support.git_remote import GitRemote, run_git

VENDOR = "VendorLibPythonV2"
VENDOR_V3 = "VendorLibPythonV3"
VENDOR_ACCOUNT = "123456789012"  # moto's account
OWN_ACCOUNT = "210987654321"

GOOD = 'def greet(name):\n    return f"hello {name}"\n\n\ndef shout(text):\n    return text.upper() + "!"\n'
NO_SHOUT = 'def greet(name):\n    return f"hello {name}"\n'

TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/greeter/
      Handler: app.handler
      Runtime: {HOST_RUNTIME}
      Architectures: [{HOST_ARCH}]
      Timeout: 10
      Layers:
        - arn:aws:lambda:us-east-1:{VENDOR_ACCOUNT}:layer:{VENDOR}:1

  shouter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/shouter/
      Handler: app.handler
      Runtime: {HOST_RUNTIME}
      Architectures: [{HOST_ARCH}]
      Timeout: 10
      Layers:
        - !Sub "arn:aws:lambda:${{AWS::Region}}:{VENDOR_ACCOUNT}:layer:{VENDOR}:1"
"""


def layer_zip(mylib: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/mylib.py", mylib)
    return buffer.getvalue()


class ZipServer:
    """Serves zips at ``/NAME`` on 127.0.0.1, as S3 serves a presigned Content.Location."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                data = files.get(self.path.split("?")[0].lstrip("/"))
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}?X-Amz-Signature=secret"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Vendor:
    """Publishes the vendor layer's versions into moto and makes each fetchable like real Lambda's."""

    aws: AwsEnv
    proxy: FaultProxy
    zips: ZipServer

    def publish(
        self, mylib: str, *, name: str = VENDOR, region: str = "us-east-1", served: bytes | None = None
    ) -> int:
        """Publish a version; GetLayerVersion of it then answers a Location serving ``served`` (default:
        the published zip itself)."""
        data = layer_zip(mylib)
        item = self.aws.client("lambda", region).publish_layer_version(
            LayerName=name, Content={"ZipFile": data}, CompatibleRuntimes=[HOST_RUNTIME]
        )
        version = int(item["Version"])
        key = f"{name}-{region}-{version}.zip"
        self.zips.files[key] = served if served is not None else data
        answer: dict[str, Any] = {
            "LayerArn": item["LayerArn"],
            "LayerVersionArn": item["LayerVersionArn"],
            "Version": version,
            "Description": "",
            "CreatedDate": item["CreatedDate"],
            "CompatibleRuntimes": [HOST_RUNTIME],
            "Content": {
                "Location": self.zips.url(key),
                "CodeSha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                "CodeSize": len(data),
            },
        }
        self.proxy.add(
            FaultRule(
                method="GET",
                path=rf"{region}(:|%3A){VENDOR_ACCOUNT}(:|%3A)layer(:|%3A){name}/versions/{version}$",
                status=200,
                body=json.dumps(answer).encode(),
                headers={"Content-Type": "application/json"},
                times=1000,
            )
        )
        return version


def config_text(vendor_section: str = "") -> str:
    return (
        textwrap.dedent(
            f"""\
        version: 1
        settings:
          registry: local
          account: "{OWN_ACCOUNT}"
          labels: [layer-ci]
        templates: [template.yaml]
        layers:
          own:
            source: layers/own
            build: {{method: files}}
            compatible_runtimes: [{HOST_RUNTIME}]
        functions:
          greeter:
            test: {TEST_ARGV}
          shouter:
            test: {TEST_ARGV}
        """
        )
        + vendor_section
    )


def make_vendor_repo(remote: GitRemote, vendor_section: str = "") -> Path:
    """The consumer repository in the remote's clone, pushed to main; returns its root."""
    root = remote.clone
    files = {
        ".gitignore": ".layer-ci/\n__pycache__/\n.pytest_cache/\n",
        "layer-ci.yml": config_text(vendor_section),
        "template.yaml": TEMPLATE,
        "layers/own/python/own.py": "OWN = 1\n",
        "functions/greeter/app.py": GREETER_APP,
        "functions/greeter/tests/test_app.py": GREETER_TEST,
        "functions/shouter/app.py": SHOUTER_APP,
        "functions/shouter/tests/test_app.py": SHOUTER_TEST,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    run_git(["add", "--all"], root)
    run_git(["commit", "--quiet", "-m", "consumers of the vendor layer v1"], root)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], root)
    return root


def zip_server() -> Iterator[ZipServer]:
    server = ZipServer()
    try:
        yield server
    finally:
        server.stop()
