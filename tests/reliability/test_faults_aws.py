"""AWS faults injected per request between `layer-ci publish` and moto (server mode), through the CLI.

A loopback FaultProxy answers chosen requests with Lambda's throttling (429 TooManyRequestsException),
500/503, connection resets (before or after the request took effect), or holds the real answer past the
client's read timeout (LAYER_CI_AWS_READ_TIMEOUT). Each run either succeeds through botocore's retries
and layer-ci's dedupe (exactly one version per region, recorded in the lock), or fails with ONE line
``layer-ci: error: AWS Lambda <Operation> failed: ...`` with no traceback, and what the lock records
always equals what exists in Lambda.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from layer_ci.cli import main
from layer_ci.plan.lockfile import load_lock
from tests.support.aws import AwsEnv
from tests.support.fault_proxy import FaultProxy, FaultRule, aws_error_rule, throttling_rule

REGIONS = ("us-east-1", "eu-west-1")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PUBLISH = r"^/2018-10-31/layers/deps/versions(\?|$)"  # POST publishes, GET lists (?MaxItems=50)
POLICY = r"^/2018-10-31/layers/deps/versions/\d+/policy"
BUCKET = "layer-ci-faults"
EU_WEST = ("Authorization", r"/eu-west-1/lambda/")  # SigV4 credential scope names the region
READ_TIMEOUT_S = 1.0
SLOW_S = 2.5  # an answer held back this long arrives after the client gave up

CONFIG = """\
version: 1
settings:
  registry: aws
{extra}layers:
  deps:
    source: layers/deps
    build: {{method: files}}
    compatible_runtimes: [python3.12]
    regions: [{regions}]
{sharing}"""

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "layers" / "deps" / "python").mkdir(parents=True)
    (root / "layers" / "deps" / "python" / "deps.py").write_text("VERSION = 1\n")
    write_config(root)
    return root


def write_config(
    root: Path, *, regions: tuple[str, ...] = ("us-east-1",), bucket: bool = False, shared: bool = False
) -> None:
    (root / "layer-ci.yml").write_text(
        CONFIG.format(
            extra=f"  artifact_bucket: {BUCKET}\n" if bucket else "",
            regions=", ".join(regions),
            sharing="    share_with: {accounts: ['111122223333']}\n" if shared else "",
        )
    )


@pytest.fixture
def publish(
    repo: Path, fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    """`layer-ci publish` in this process (fresh boto3 clients every run), returning (code, out, err).

    While a rule holds answers back, the client's read timeout is 1 s, so those answers come too late.
    """

    def run(*args: str, attempts: int = 3) -> tuple[int, str, str]:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(attempts))
        if any(rule.slow_answer and rule.hits < rule.times for rule in fault_proxy.rules):
            monkeypatch.setenv("LAYER_CI_AWS_READ_TIMEOUT", str(READ_TIMEOUT_S))
        capsys.readouterr()
        code = main(["--config", str(repo / "layer-ci.yml"), "publish", "--commit", COMMIT, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def versions(aws: AwsEnv, region: str = "us-east-1") -> list[dict[str, object]]:
    listed = aws.client("lambda", region).list_layer_versions(LayerName="deps")["LayerVersions"]
    return sorted(listed, key=lambda item: int(str(item["Version"])))


def assert_consistent(repo: Path, aws: AwsEnv, regions: tuple[str, ...] = ("us-east-1",)) -> None:
    """The lock records exactly what exists: one version per published region, holding the built zip."""
    locked = load_lock(repo).layers.get("deps")
    for region in regions:
        found = versions(aws, region)
        recorded = locked.published.get(region) if locked else None
        if recorded is None:
            assert found == [], f"{region}: a version exists that the lock does not record: {found}"
            continue
        assert [int(str(item["Version"])) for item in found] == [recorded.version], (region, found)
        assert locked is not None
        detail = aws.client("lambda", region).get_layer_version(
            LayerName="deps", VersionNumber=recorded.version
        )
        digest = base64.b64decode(detail["Content"]["CodeSha256"]).hex()
        assert digest == locked.zip_sha256 == hashlib.sha256(zip_of(repo).read_bytes()).hexdigest()
        assert recorded.arn == detail["LayerVersionArn"]


def zip_of(repo: Path) -> Path:
    return repo / ".layer-ci" / "build" / "deps.zip"


def assert_one_clear_line(err: str, service_operation: str) -> str:
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("layer-ci: error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"layer-ci: error: {service_operation} failed: "), errors[0]
    return errors[0]


# ------------------------------------------------------------------------------- survived through retries

SURVIVABLE: dict[str, list[FaultRule]] = {
    "publish-throttled-429-twice": [throttling_rule("POST", PUBLISH, times=2)],
    "list-500-then-503": [
        aws_error_rule("GET", PUBLISH, 500, "ServiceException", "internal error"),
        aws_error_rule("GET", PUBLISH, 503, "ServiceException", "unavailable"),
    ],
    "publish-503-after-it-took-effect": [
        FaultRule(
            "POST",
            PUBLISH,
            status=503,
            forward_first=True,
            body=b'{"Type":"Service","message":"unavailable"}',
            headers={"x-amzn-ErrorType": "ServiceException", "Content-Type": "application/json"},
        )
    ],
    "publish-connection-reset-before-it-arrived": [FaultRule("POST", PUBLISH, reset_connection=True)],
    "publish-connection-reset-after-it-took-effect": [
        FaultRule("POST", PUBLISH, reset_connection=True, forward_first=True)
    ],
    "publish-answer-slower-than-read-timeout": [FaultRule("POST", PUBLISH, slow_answer=SLOW_S)],
    "list-answer-slower-than-read-timeout": [FaultRule("GET", PUBLISH, slow_answer=SLOW_S)],
    "every-publish-attempt-times-out-after-taking-effect": [
        FaultRule("POST", PUBLISH, slow_answer=SLOW_S, times=9)
    ],
}


@pytest.mark.parametrize("case", sorted(SURVIVABLE))
def test_transient_faults_are_survived_with_one_version_recorded(
    case: str, publish: Run, fault_proxy: FaultProxy, aws: AwsEnv, repo: Path
) -> None:
    rules = [fault_proxy.add(rule) for rule in SURVIVABLE[case]]
    code, out, err = publish()
    assert code == 0, err
    assert "Traceback" not in err
    assert all(rule.hits == min(rule.times, rule.hits) and rule.hits >= 1 for rule in rules), case
    assert out.startswith("published deps v1 in us-east-1"), out
    assert_consistent(repo, aws)
    # A rerun finds everything in place: nothing new is published.
    fault_proxy.clear()
    assert publish()[0] == 0
    assert fault_proxy.count("POST", PUBLISH) == 0
    assert_consistent(repo, aws)


def test_a_throttled_permission_grant_is_retried(
    publish: Run, fault_proxy: FaultProxy, aws: AwsEnv, repo: Path
) -> None:
    write_config(repo, shared=True)
    fault_proxy.add(throttling_rule("POST", POLICY, times=2))
    code, _, err = publish()
    assert code == 0, err
    policy = aws.client("lambda").get_layer_version_policy(LayerName="deps", VersionNumber=1)["Policy"]
    assert "layer-ci-account-111122223333" in policy
    assert_consistent(repo, aws)


def test_s3_upload_faults_are_retried(publish: Run, fault_proxy: FaultProxy, aws: AwsEnv, repo: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    write_config(repo, bucket=True)
    fault_proxy.add(
        FaultRule("PUT", rf"^/{BUCKET}/", status=503, body=b"<Error><Code>SlowDown</Code></Error>", times=2)
    )
    code, _, err = publish()
    assert code == 0, err
    assert fault_proxy.count("PUT", rf"^/{BUCKET}/") == 3
    assert_consistent(repo, aws)


# --------------------------------------------------------------------------------- failing with one line

PERSISTENT: dict[str, tuple[list[FaultRule], str, str]] = {
    # case: (rules, "Service Operation" the line names, words it must contain)
    "publish-throttled-past-every-retry": (
        [throttling_rule("POST", PUBLISH, times=99)],
        "AWS Lambda PublishLayerVersion",
        "throttled (TooManyRequestsException)",
    ),
    "list-503-past-every-retry": (
        [aws_error_rule("GET", PUBLISH, 503, "ServiceException", "unavailable", times=99)],
        "AWS Lambda ListLayerVersions",
        "ServiceException",
    ),
    "publish-reset-every-time": (
        [FaultRule("POST", PUBLISH, reset_connection=True, times=99)],
        "AWS Lambda PublishLayerVersion",
        "may have taken effect",
    ),
    "publish-access-denied": (
        [aws_error_rule("POST", PUBLISH, 403, "AccessDeniedException", "not authorized", times=99)],
        "AWS Lambda PublishLayerVersion",
        "lambda:PublishLayerVersion",
    ),
    "list-slower-than-read-timeout-every-time": (
        [FaultRule("GET", PUBLISH, slow_answer=SLOW_S, times=99)],
        "AWS Lambda ListLayerVersions",
        "no answer from us-east-1 after 2 attempts (Read timeout",
    ),
    "s3-upload-503-past-every-retry": (
        [
            FaultRule(
                "PUT", rf"^/{BUCKET}/", status=503, body=b"<Error><Code>SlowDown</Code></Error>", times=99
            )
        ],
        "AWS S3 PutObject",
        "throttled (SlowDown)",
    ),
}


@pytest.mark.parametrize("case", sorted(PERSISTENT))
def test_persistent_faults_fail_with_one_line_naming_service_and_operation(
    case: str, publish: Run, fault_proxy: FaultProxy, aws: AwsEnv, repo: Path
) -> None:
    rules, operation, words = PERSISTENT[case]
    if "s3" in case:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        write_config(repo, bucket=True)
    for rule in rules:
        fault_proxy.add(rule)
    code, out, err = publish(attempts=2)
    assert code == 1, (out, err)
    line = assert_one_clear_line(err, operation)
    assert words in line, line
    assert ("may have taken effect" in line) == ("Publish" in operation and "reset" in case), line
    if (report := os.environ.get("LAYER_CI_FAULT_REPORT")) is not None:  # lines quoted in the docs
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(f"{case}\t{line}\n")
    assert out == ""
    assert_consistent(repo, aws)  # nothing exists, nothing recorded
    assert load_lock(repo).layers.get("deps") is None
    # Once the service is healthy again, the rerun converges.
    fault_proxy.clear()
    assert publish()[0] == 0
    assert_consistent(repo, aws)


def test_a_region_that_keeps_failing_leaves_the_others_recorded_and_a_rerun_finishes(
    repo: Path, publish: Run, fault_proxy: FaultProxy, aws: AwsEnv
) -> None:
    write_config(repo, regions=REGIONS)
    rule = fault_proxy.add(throttling_rule("POST", PUBLISH, times=99))
    rule.header = EU_WEST
    code, _, err = publish(attempts=2)
    assert code == 1
    assert "eu-west-1" in assert_one_clear_line(err, "AWS Lambda PublishLayerVersion")
    assert set(load_lock(repo).layers["deps"].published) == {"us-east-1"}
    assert_consistent(repo, aws, REGIONS)

    fault_proxy.clear()
    code, _, err = publish()
    assert code == 0, err
    assert set(load_lock(repo).layers["deps"].published) == set(REGIONS)
    assert fault_proxy.count("POST", PUBLISH) == 1  # only eu-west-1 still needed a version
    assert_consistent(repo, aws, REGIONS)


def test_bad_timeout_setting_is_one_line_naming_the_variable(
    publish: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYER_CI_AWS_READ_TIMEOUT", "soon")
    code, _, err = publish()
    assert code == 2
    assert err.splitlines()[-1] == (
        "layer-ci: error: LAYER_CI_AWS_READ_TIMEOUT='soon' is not a number of seconds from 0.05 to 3600; "
        "fix or unset it"
    )
