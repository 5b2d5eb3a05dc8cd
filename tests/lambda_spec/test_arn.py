"""Tests for parsing and formatting layer version ARNs across partitions and placeholders."""

from __future__ import annotations

import pytest

from layer_ci.lambda_spec.arn import (
    LayerVersionArn,
    arn_account,
    format_layer_version_arn,
    layer_name_of,
    parse_layer_version_arn,
    partition_for_region,
)


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (
            "arn:aws:lambda:us-east-1:123456789012:layer:common-deps:3",
            LayerVersionArn("aws", "us-east-1", "123456789012", "common-deps", 3),
        ),
        (
            "arn:aws-cn:lambda:cn-north-1:123456789012:layer:x:1",
            LayerVersionArn("aws-cn", "cn-north-1", "123456789012", "x", 1),
        ),
        (
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:Under_score-9:1234",
            LayerVersionArn("aws-us-gov", "us-gov-west-1", "123456789012", "Under_score-9", 1234),
        ),
        (
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:layer:x:2",
            LayerVersionArn(None, None, None, "x", 2),
        ),
        (
            "arn:aws:lambda:${var.region}:${data.aws_caller_identity.current.account_id}:layer:x:2",
            LayerVersionArn("aws", None, None, "x", 2),
        ),
        (
            "arn:aws:lambda:{self.region}:123456789012:layer:x:2",
            LayerVersionArn("aws", None, "123456789012", "x", 2),
        ),
        (
            "arn:aws:lambda:ap-southeast-4:123456789012:layer:" + "n" * 140 + ":1",
            LayerVersionArn("aws", "ap-southeast-4", "123456789012", "n" * 140, 1),
        ),
    ],
)
def test_parse_accepts_partitions_regions_and_placeholders(arn: str, expected: LayerVersionArn) -> None:
    assert parse_layer_version_arn(arn) == expected


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:lambda:us-east-1:123456789012:layer:x",  # a layer ARN, no version
        "arn:aws:lambda:us-east-1:12345678901:layer:x:1",  # 11-digit account
        "arn:aws-iso:lambda:us-iso-east-1:123456789012:layer:x:1",  # partition not supported
        "arn:aws:lambda:US-EAST-1:123456789012:layer:x:1",
        "arn:aws:lambda:us-east-1:123456789012:function:x:1",
        "arn:aws:lambda:us-east-1:123456789012:layer:x:1a",
        "arn:aws:lambda:us-east-1:123456789012:layer:" + "n" * 141 + ":1",
        "arn:aws:lambda:us-east-1:123456789012:layer:x.y:1",
        "arn:aws:lambda:us-east-1:123456789012:layer:x:${Version}",
        " arn:aws:lambda:us-east-1:123456789012:layer:x:1",
    ],
)
def test_parse_refuses_near_misses_with_a_clear_message(arn: str) -> None:
    with pytest.raises(ValueError, match="not a layer version ARN"):
        parse_layer_version_arn(arn)


def test_format_round_trips_and_derives_partition_from_region() -> None:
    assert format_layer_version_arn("x", 4, "cn-northwest-1", "123456789012") == (
        "arn:aws-cn:lambda:cn-northwest-1:123456789012:layer:x:4"
    )
    assert partition_for_region("us-gov-east-1") == "aws-us-gov"
    assert partition_for_region("eu-west-1") == "aws"
    arn = LayerVersionArn("aws-us-gov", "us-gov-west-1", "123456789012", "x", 7)
    assert parse_layer_version_arn(str(arn)) == arn


def test_format_uses_cloudformation_placeholders_for_unknown_parts() -> None:
    text = format_layer_version_arn("common-deps", 3, None, None)
    assert text == "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:layer:common-deps:3"
    assert parse_layer_version_arn(text) == LayerVersionArn(None, None, None, "common-deps", 3)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"layer": "bad name", "version": 1, "region": "us-east-1", "account": None}, "invalid layer name"),
        ({"layer": "x", "version": 0, "region": "us-east-1", "account": None}, "versions start at 1"),
        ({"layer": "x", "version": 1, "region": "mars-1", "account": None}, "invalid region"),
        ({"layer": "x", "version": 1, "region": None, "account": "42"}, "invalid account"),
        (
            {"layer": "x", "version": 1, "region": None, "account": None, "partition": "aws-iso"},
            "invalid partition",
        ),
    ],
)
def test_format_refuses_invalid_parts(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        format_layer_version_arn(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("common-deps", "common-deps"),
        (
            "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7",
            "AWSLambdaPowertoolsPythonV3-python312-x86_64",
        ),
        # A plain split on ":" cuts the placeholders apart and took "" for the name.
        (
            "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3:7",
            "AWSLambdaPowertoolsPythonV3",
        ),
        ("arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:layer:tools:3", "tools"),
        ("not:an:arn", "not:an:arn"),
    ],
)
def test_a_function_layer_entry_names_its_layer(entry: str, name: str) -> None:
    assert layer_name_of(entry) == name


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:lambda:us-east-1:123456789012:layer:common:3", "123456789012"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:layer:common:3", "123456789012"),
        # split(":")[4] read "lambda" here: the partition's placeholder holds two colons.
        ("arn:${AWS::Partition}:lambda:us-east-1:123456789012:layer:common:3", "123456789012"),
        # ... and "Region}" here, where the account is not known before deploy time.
        ("arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:layer:common:3", None),
        ("arn:aws:lambda:us-east-1:123456789012:layer:common", None),  # no version: not a version ARN
        ("not:an:arn:at:all:here:really", None),
    ],
)
def test_the_account_of_an_arn_is_read_with_the_parser(arn: str, account: str | None) -> None:
    assert arn_account(arn) == account


def test_the_layer_arn_drops_only_the_version() -> None:
    arn = parse_layer_version_arn("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:common-deps:12")
    assert arn.layer_arn == "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:common-deps"
