"""The Lambda registry against moto in server mode: S3 routing, and AWS errors turned into clear messages."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from layer_ci.adapters.aws import AwsAdapter, AwsOptions
from layer_ci.errors import LayerCiError, LimitError, ServiceError, UsageError
from layer_ci.publish.lambda_registry import AwsRegistry, artifact_key
from tests.support.aws import AwsEnv, layer_spec
from tests.support.fault_proxy import FaultProxy, aws_error_rule

PUBLISH = r"^/2018-10-31/layers/[^/]+/versions$"


def _zip(path: Path, content: bytes = b"x = 1\n") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/m.py", (1980, 1, 1, 0, 0, 0)), content)
    return path


def _registry(bucket: str | None = None, attempts: int = 2) -> AwsRegistry:
    return AwsRegistry(AwsAdapter("us-east-1", AwsOptions(max_attempts=attempts)), artifact_bucket=bucket)


def test_with_a_bucket_every_zip_goes_through_s3_once(
    fault_proxy: FaultProxy, aws: AwsEnv, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket="artifacts")
    registry = _registry("artifacts")
    zip_path = _zip(tmp_path / "l.zip")
    first = registry.publish(layer_spec("small"), zip_path, "d")
    second = registry.publish(layer_spec("small"), zip_path, "d")
    assert (first.version, second.version) == (1, 2)
    key = artifact_key(first.code_sha256_hex)
    assert (
        aws.client("s3").head_object(Bucket="artifacts", Key=key)["ContentLength"] == zip_path.stat().st_size
    )
    # Content-addressed: the second publish found the object by HEAD and uploaded nothing.
    assert fault_proxy.count("PUT", rf"/artifacts/{key}") == 1
    assert fault_proxy.count("HEAD", rf"/artifacts/{key}") == 2


def test_region_placeholder_in_the_bucket_name_gives_one_bucket_per_region(
    aws: AwsEnv, tmp_path: Path
) -> None:
    aws.client("s3", "eu-west-1").create_bucket(
        Bucket="artifacts-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    registry = AwsRegistry(AwsAdapter("eu-west-1"), artifact_bucket="artifacts-{region}")
    info = registry.publish(layer_spec("regional"), _zip(tmp_path / "l.zip"), "d")
    objects = aws.client("s3", "eu-west-1").list_objects_v2(Bucket="artifacts-eu-west-1")["Contents"]
    assert [o["Key"] for o in objects] == [artifact_key(info.code_sha256_hex)]


def test_zip_over_50_mb_without_a_bucket_is_refused_before_any_request(
    fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    big = tmp_path / "big.zip"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024 + 1)  # sparse: the size check must not read it
    with pytest.raises(LimitError, match=r"set `settings.artifact_bucket`"):
        _registry().publish(layer_spec("huge"), big, "d")
    assert fault_proxy.requests == []


@pytest.mark.parametrize(
    ("status", "error_type", "message", "expected"),
    [
        (
            403,
            "AccessDeniedException",
            "User is not authorized",
            r"lack IAM permission lambda:PublishLayerVersion",
        ),
        (
            400,
            "CodeStorageExceededException",
            "Code storage limit exceeded",
            r"code storage quota exceeded.*MB",
        ),
        (
            400,
            "InvalidParameterValueException",
            "Unzipped size must be smaller than 262144000 bytes",
            r"262,144,000-byte limit",
        ),
        (
            413,
            "RequestEntityTooLargeException",
            "Request must be smaller than 69905067 bytes",
            r"artifact_bucket",
        ),
    ],
)
def test_publish_errors_become_one_line_with_the_fix(
    fault_proxy: FaultProxy, tmp_path: Path, status: int, error_type: str, message: str, expected: str
) -> None:
    fault_proxy.add(aws_error_rule("POST", PUBLISH, status, error_type, message, times=5))
    with pytest.raises(ServiceError, match=expected) as caught:
        _registry().publish(layer_spec("failing"), _zip(tmp_path / "l.zip"), "d")
    assert "\n" not in caught.value.one_line()
    assert str(caught.value).startswith("AWS Lambda PublishLayerVersion failed:")
    assert fault_proxy.count("POST", PUBLISH) == 1  # none of these is worth a retry


def test_access_denied_on_s3_names_the_s3_action(
    fault_proxy: FaultProxy, aws: AwsEnv, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket="locked")
    fault_proxy.add(aws_error_rule("HEAD", r"^/locked/", 403, "AccessDenied", "Forbidden", times=5))
    with pytest.raises(ServiceError, match=r"s3:GetObject"):
        _registry("locked").publish(layer_spec("l"), _zip(tmp_path / "l.zip"), "d")


def test_unknown_region_is_refused_before_any_request(fault_proxy: FaultProxy) -> None:
    with pytest.raises(UsageError, match=r"unknown AWS region 'us-east-7'.*regions:"):
        AwsAdapter("us-east-7")
    with pytest.raises(UsageError, match="unknown AWS region"):
        AwsAdapter("US-EAST-1")
    assert fault_proxy.requests == []


def test_missing_credentials_say_how_to_get_them(aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(LayerCiError, match=r"no AWS credentials found.*configure-aws-credentials"):
        _registry().list_versions("anything")


def test_publish_timeout_is_reported_as_an_unknown_outcome(fault_proxy: FaultProxy, tmp_path: Path) -> None:
    from layer_ci.errors import OutcomeUnknown

    fault_proxy.add(aws_error_rule("POST", PUBLISH, 200, "x", "y", times=2))
    fault_proxy.rules[-1].delay = 1.5
    registry = AwsRegistry(AwsAdapter("us-east-1", AwsOptions(max_attempts=2, read_timeout=0.5)))
    with pytest.raises(OutcomeUnknown, match="may have taken effect"):
        registry.publish(layer_spec("slow"), _zip(tmp_path / "l.zip"), "d")
