"""Spellings of layer pins met in public SAM, CDK, Serverless, Terraform and CI code, and unmovable pins.

Every slice below is written for this suite in the shapes those repositories use (vendor layers of
Powertools, Datadog and Lambda Insights; CI matrices; CDK string building).
"""
# ruff: noqa: E501  (the slices keep the long lines real templates and workflows have)

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layer_ci import cli
from layer_ci.bump.edits import plan_pin_edits
from layer_ci.bump.releases import LayerRelease
from layer_ci.lambda_spec.arn import LAYER_VERSION_ARN_RE
from layer_ci.model import BuildSpec, Config, LayerSpec
from layer_ci.pins.find import Pin, arn_matches, find_pins_in_text
from layer_ci.pins.rewrite import rewrite_text
from layer_ci.plan.lockfile import LockedLayer, PublishedRef
from layer_ci.report.facts import RegionVersion

PT = "017000801446"
DD = "464622532012"
INSIGHTS = "580247275435"


def pins(text: str, path: str) -> list[tuple[str, str | None, str | None, int, str | None]]:
    return [
        (p.layer, p.region, p.account, p.version, p.unmovable)
        for p in find_pins_in_text(textwrap.dedent(text), path)
    ]


def test_cdk_typescript_template_literal_with_the_placeholder_split_over_lines() -> None:
    text = """\
        const powertools = lambda.LayerVersion.fromLayerVersionArn(this, 'Powertools',
          `arn:aws:lambda:${
            cdk.Stack.of(this).region
          }:017000801446:layer:AWSLambdaPowertoolsTypeScriptV2:12`,
        );
        const insights = `arn:${cdk.Aws.PARTITION}:lambda:${cdk.Aws.REGION}:580247275435:layer:LambdaInsightsExtension-Arm64:${
          props.insightsVersion
        }`;
    """
    assert pins(text, "lib/stack.ts") == [("AWSLambdaPowertoolsTypeScriptV2", None, PT, 12, None)]


def test_cdk_concatenated_version_strings_and_f_strings() -> None:
    ts = """\
        const a = 'arn:aws:lambda:eu-west-1:464622532012:layer:Datadog-Node20-x:' + '112';
        const b = "arn:aws:lambda:" + this.region + ":464622532012:layer:Datadog-Extension:" +
          "65";
        const c = 'arn:aws:lambda:us-east-1:464622532012:layer:dd-trace-java:' + DD_JAVA_VERSION;
    """
    assert pins(ts, "lib/datadog.ts") == [
        ("Datadog-Node20-x", "eu-west-1", DD, 112, None),
        ("Datadog-Extension", None, DD, 65, None),
    ]
    py = """\
        POWERTOOLS = f"arn:aws:lambda:{Aws.REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV2:68"
        INSIGHTS = (
            f"arn:aws:lambda:{Stack.of(self).region}:580247275435:layer:LambdaInsightsExtension:"
            "53"
        )
        LATEST = f"arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV2:{version}"
    """
    assert pins(py, "infra/stack.py") == [
        ("AWSLambdaPowertoolsPythonV2", None, PT, 68, None),
        ("LambdaInsightsExtension", None, INSIGHTS, 53, None),
    ]


def test_pulumi_concat_and_terraform_join_calls() -> None:
    pulumi = """\
        lambda_function = aws.lambda_.Function(
            "function",
            layers=[
                pulumi.Output.concat(
                    "arn:aws:lambda:",
                    aws.get_region_output().name,
                    ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:3",
                ),
            ],
        )
    """
    assert pins(pulumi, "__main__.py") == [("AWSLambdaPowertoolsPythonV3-python312-arm64", None, PT, 3, None)]
    hcl = """\
      datadog_extension_layer_arn = join("", [
        "arn:aws:lambda:",
        var.aws_region,
        ":464622532012:layer:Datadog-Extension:",
        "86"
      ])
      datadog_node_layer_arn = join("", ["arn:aws:lambda:", var.aws_region, ":464622532012:layer:Datadog-Node22-x:", var.node_version])
    """
    assert pins(hcl, "locals.tf") == [("Datadog-Extension", None, DD, 86, None)]
    text = textwrap.dedent(hcl)
    (pin,) = find_pins_in_text(text, "locals.tf")
    assert rewrite_text(text, [pin], {("Datadog-Extension", None): 90}).text == text.replace('"86"', '"90"')


@pytest.mark.parametrize(
    "placeholder",
    [
        "${{ matrix.region }}",
        "${{ vars.AWS_REGION }}",
        "$AWS_REGION",
        "<AWS_REGION>",
        "{{ region }}",
        "${opt:region, ${self:provider.region}}",
        "${self:custom.regions.${opt:stage}}",
        "${var.aws_region}",
        "${data.aws_region.current.name}",
    ],
)
def test_ci_and_template_variables_stand_for_the_region(placeholder: str) -> None:
    text = f"arn:aws:lambda:{placeholder}:{DD}:layer:Datadog-Extension-ARM:86\n"
    ((layer, region, account, version, unmovable),) = pins(text, "x")
    assert (layer, region, account, version, unmovable) == ("Datadog-Extension-ARM", None, DD, 86, None)


def test_ci_variables_as_account_and_partition() -> None:
    text = """\
        - run: aws lambda update-function-configuration --layers arn:${{ env.PARTITION }}:lambda:$AWS_REGION:${{ secrets.ACCOUNT_ID }}:layer:shared-utils:14
        - arn:aws:lambda:eu-west-1:<ACCOUNT_ID>:layer:shared-utils:15
    """
    assert pins(text, ".github/workflows/deploy.yml") == [
        ("shared-utils", None, None, 14, None),
        ("shared-utils", "eu-west-1", None, 15, None),
    ]


@pytest.mark.parametrize(
    "account", ["<<XXXXXXXX>>", "<account-id>", "ACCOUNT_ID", "xxxxxxxxxxxx", "${AWS::AccountId}"]
)
def test_account_placeholders_of_samples_and_docs(account: str) -> None:
    text = f"          arn:aws:lambda:us-east-1:{account}:layer:AWSSDKPandas-Python310-Arm64:7\n"
    assert pins(text, "integration-test/stack.yaml") == [
        ("AWSSDKPandas-Python310-Arm64", "us-east-1", None, 7, None)
    ]


def test_placeholders_in_docs_without_a_version_are_no_pins() -> None:
    text = "arn:aws:lambda:<AWS_REGION>:464622532012:layer:Datadog-Extension:<EXTENSION_VERSION>\n"
    text += "arn:aws:lambda:{region}:464622532012:layer:dd-trace-py:{{< latest-lambda-layer-version >}}\n"
    assert pins(text, "README.md") == []


SAM_JOIN = """\
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Layers:
        - !Join
          - ''
          - - 'arn:aws:lambda:'
            - !Ref AWS::Region
            - ':580247275435:layer:LambdaInsightsExtension:38'
        - !Join [':', [arn, !Ref AWS::Partition, lambda, !Ref AWS::Region, '017000801446', layer, AWSLambdaPowertoolsPythonV2, '40']]
        - Fn::Join:
            - ''
            - - 'arn:aws:lambda:'
              - Ref: AWS::Region
              - ':464622532012:layer:Datadog-Extension:'
              - !Ref DatadogExtensionVersion
        - !Join ['', ['arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python312:', '101']]
        - !Join ['', ['arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python311:99']]
"""

CFN_JOIN = {
    "Resources": {
        "Api": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Layers": [
                    {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                ":lambda:",
                                {"Ref": "AWS::Region"},
                                ":580247275435:layer:LambdaInsightsExtension:",
                                "38",
                            ],
                        ]
                    },
                    {
                        "Fn::Join": [
                            ":",
                            [
                                "arn:aws:lambda",
                                {"Ref": "AWS::Region"},
                                {"Fn::ImportValue": "SharedAccount"},
                                "layer",
                                "shared",
                                "3",
                            ],
                        ]
                    },
                ]
            },
        }
    }
}


def test_fn_join_in_yaml_is_listed_as_unmovable() -> None:
    found = pins(SAM_JOIN, "template.yaml")
    join = "built by Fn::Join"
    assert found == [
        ("LambdaInsightsExtension", None, INSIGHTS, 38, join),
        ("AWSLambdaPowertoolsPythonV2", None, PT, 40, join),
        # the version in the string right after the rest of the ARN, or the ARN written whole in one
        # part: read as ordinary pins, whose digits can be moved
        ("Datadog-Python312", "us-east-1", DD, 101, None),
        ("Datadog-Python311", "us-east-1", DD, 99, None),
    ]
    lines = [pin.line for pin in find_pins_in_text(SAM_JOIN, "template.yaml")]
    assert lines == [6, 11, 18, 19]


def test_fn_join_in_json_is_listed_as_unmovable() -> None:
    text = json.dumps(CFN_JOIN, indent=2)
    found = find_pins_in_text(text, "stack.template.json")
    assert [(p.layer, p.account, p.version, p.unmovable) for p in found] == [
        ("LambdaInsightsExtension", INSIGHTS, 38, "built by Fn::Join"),
        ("shared", None, 3, "built by Fn::Join"),
    ]
    assert list(json.loads(text[found[0].start : found[0].end])) == ["Fn::Join"]  # the span is the Join


def test_join_is_only_looked_for_in_templates_and_bad_yaml_is_no_error() -> None:
    assert pins(SAM_JOIN, "notes.txt") == [
        ("Datadog-Python312", "us-east-1", DD, 101, None),
        ("Datadog-Python311", "us-east-1", DD, 99, None),
    ]
    assert pins("Join: [unclosed\n  - 'arn:aws:lambda:us-east-1:1:layer:x:1", "t.yaml") == []
    bomb = "a: &a ['Join', 'Join']\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}]\n" for p, c in zip("abcdefghij", "bcdefghijk", strict=True)
    )
    assert pins(bomb + "k2: *k\n", "t.yaml") == []


def pin_of(text: str, path: str, layer: str) -> list[Pin]:
    return [pin for pin in find_pins_in_text(text, path) if pin.layer == layer]


def test_rewrite_moves_concatenated_versions_and_reports_unmovable_pins() -> None:
    ts = "const a = 'arn:aws:lambda:eu-west-1:000000000000:layer:shared:' + '9';\n"
    result = rewrite_text(ts, pin_of(ts, "a.ts", "shared"), {("shared", "eu-west-1"): 10})
    assert result.text == ts.replace("'9'", "'10'")
    again = rewrite_text(result.text, pin_of(ts, "a.ts", "shared"), {("shared", "eu-west-1"): 10})
    assert again.text == result.text and len(again.already_current) == 1

    text = json.dumps(CFN_JOIN, indent=2)
    joined = pin_of(text, "stack.json", "shared")
    result = rewrite_text(text, joined, {("shared", None): 4})
    assert result.text == text and result.changed == [] and result.unmovable == joined
    current = rewrite_text(text, joined, {("shared", None): 3})
    assert current.unmovable == [] and current.text == text


def test_bump_keeps_unmovable_pins_and_says_why(tmp_path: Path) -> None:
    layer = LayerSpec(
        name="shared",
        source=tmp_path,
        build=BuildSpec(method="files"),
        compatible_runtimes=("python3.12",),
        compatible_architectures=("x86_64",),
        regions=("us-east-1",),
    )
    config = Config(root=tmp_path, path=tmp_path / "layer-ci.yml", layers=(layer,), functions=())
    text = json.dumps(CFN_JOIN, indent=2) + "\n"
    other = "arn:aws:lambda:us-east-1:000000000000:layer:shared:3\n"
    arn = "arn:aws:lambda:us-east-1:000000000000:layer:shared:4"
    locked = LockedLayer("sha256:" + "a" * 64, "b" * 64, {"us-east-1": PublishedRef(4, arn)})
    release = LayerRelease("shared", (RegionVersion("us-east-1", 3, 4, arn),), locked)
    edits = plan_pin_edits(config, {"stack.json": text, "env.txt": other}, [release])
    assert edits.files == {"env.txt": other.replace(":3", ":4")}
    (kept,) = edits.kept
    assert (kept.location, kept.layer, kept.version) == ("stack.json:24", "shared", 3)
    assert kept.reason == "unmovable: built by Fn::Join; edit it by hand"


def test_pins_command_lists_unmovable_pins_without_a_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "template.yaml").write_text(SAM_JOIN)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["pins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PLACE", "LAYER", "REGION", "VERSION", "ACCOUNT"]
    assert lines[1].split() == [
        "template.yaml:6:11",
        "LambdaInsightsExtension",
        "*",
        "38",
        INSIGHTS,
        "unmovable:",
        "built",
        "by",
        "Fn::Join",
    ]
    assert (
        lines[-1]
        == "4 pins in 1 file; 2 unmovable (no layer-ci.yml here, so nothing is compared with a lock)"
    )
    assert cli.main(["pins", "--json", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)["pins"]
    assert [row["unmovable"] for row in rows] == ["built by Fn::Join"] * 2 + [None] * 2
    assert {row["status"] for row in rows} == {"no-config"}


PIECES = st.sampled_from(
    [
        "arn:",
        "aws",
        ":lambda:",
        "us-east-1",
        ":",
        "123456789012",
        ":layer:",
        "name",
        "7",
        "${AWS::Region}",
        "${\n  x\n}",
        "$AWS_REGION",
        "<R>",
        "' + r + '",
        "'",
        '"',
        " + ",
        "\n",
        "x",
        "{",
        "}",
        "12",
        "arn:aws:lambda:",
    ]
)


@given(st.lists(PIECES, max_size=40))
@settings(max_examples=300, deadline=None)
def test_windowed_search_finds_what_finditer_finds(parts: list[str]) -> None:
    text = "".join(parts)
    expected = [m.span() for m in LAYER_VERSION_ARN_RE.finditer(text)]
    assert [m.span() for m in arn_matches(text)] == expected


def test_windowed_search_in_a_large_file() -> None:
    filler = "arn:aws:s3:::bucket/key layer version : " * 5000
    arn = "arn:aws:lambda:${\n  Stack.of(this).region\n}:017000801446:layer:AWSLambdaPowertoolsPythonV2:68"
    text = filler + arn + "\n" + filler + arn.replace("68", "69")
    assert [m["version"] for m in LAYER_VERSION_ARN_RE.finditer(text)] == ["68", "69"]
    assert [m["version"] for m in arn_matches(text)] == ["68", "69"]


def test_templates_joining_other_arns_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    import layer_ci.pins.find as find_module

    def refuse(_text: str) -> list[object]:
        raise AssertionError("parsed a template whose Joins build no layer ARN")

    monkeypatch.setattr(find_module, "joined_arns", refuse)
    iam = """\
        Resources:
          Role:
            Properties:
              Policies:
                - PolicyDocument:
                    Statement:
                      - Resource: !Join ['', ['arn:aws:s3:::', !Ref Bucket, '/*']]
          Fn:
            Properties:
              Layers:
                - arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:86
    """
    assert pins(iam, "template.yaml") == [("Datadog-Extension", "us-east-1", DD, 86, None)]
    with pytest.raises(AssertionError, match="parsed a template"):
        pins(SAM_JOIN, "template.yaml")
