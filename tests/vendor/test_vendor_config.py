"""`vendor_layers:` in layer-ci.yml: what it decides, and one-line file:line errors for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_ci import cli
from layer_ci.vendor.policy import load_vendor_settings
from tests.vendor.vendor_support import config_text

VENDOR_SECTION = """\
vendor_layers:
  watch: listed
  layers:
    - name: AWSLambdaPowertoolsPythonV3-*
      account: "017000801446"
      max_version: 20
      regions: [eu-west-1]
    - name: Datadog-*
      watch: false
"""


def write(tmp_path: Path, section: str) -> Path:
    (tmp_path / "layers" / "own" / "python").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    path = tmp_path / "layer-ci.yml"
    base = config_text().replace("templates: [template.yaml]\n", "").split("functions:")[0]
    path.write_text(base + section)
    return path


def test_rules_decide_per_layer_and_listed_leaves_the_rest_alone(tmp_path: Path) -> None:
    settings = load_vendor_settings(write(tmp_path, VENDOR_SECTION))
    powertools = settings.policy("017000801446", "AWSLambdaPowertoolsPythonV3-python312-x86_64")
    assert (powertools.watch, powertools.max_version, powertools.regions) == (True, 20, ("eu-west-1",))
    assert powertools.ssm_path == "/aws/service/powertools/"  # the vendor's public parameters
    # Same name under another account: not the rule's layer.
    assert settings.policy("999999999999", "AWSLambdaPowertoolsPythonV3-python312-x86_64").watch is False
    assert settings.policy("464622532012", "Datadog-Python312").watch is False
    assert settings.policy("580247275435", "LambdaInsightsExtension").watch is False  # watch: listed


def test_without_a_section_every_vendor_layer_is_watched(tmp_path: Path) -> None:
    policy = load_vendor_settings(write(tmp_path, "")).policy("336392948345", "AWSSDKPandas-Python312")
    assert policy.watch and policy.ssm_path == "/aws/service/aws-sdk-pandas/"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "vendor_layers:\n  layers:\n    - name: X\n      regions: [eu-wst-1]\n",
            ":14: vendor_layers.layers[0].regions[0]: unknown AWS region 'eu-wst-1'",
        ),
        (
            "vendor_layers:\n  layers:\n    - name: X\n      lookup: ssm\n",
            ":14: vendor_layers.layers[0].lookup",
        ),
        (
            "vendor_layers:\n  layers:\n    - name: X\n      max_versoin: 3\n",
            ":14: vendor_layers.layers[0].max_versoin: unknown key; did you mean 'max_version'?",
        ),
        ("vendor_layers:\n  watch: some\n", ":12: vendor_layers.watch"),
    ],
)
def test_mistakes_are_one_line_errors_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, expected: str
) -> None:
    path = write(tmp_path, section)
    code = cli.main(["--config", str(path), "watch", "--check"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"layer-ci.yml{expected}" in err
