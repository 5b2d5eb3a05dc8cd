"""Bad layer-ci.yml files and what each must be refused with: shared by the error and schema tests."""

from __future__ import annotations

import textwrap

# Lines:         1 version, 2 layers, 3 common, 4 source, 5 build, 6 method, 7 requirements,
# 8 compatible_runtimes, 9 compatible_architectures, 10 tools, 11 source, 12 build, 13 functions,
# 14 orders, 15 source, 16 runtime, 17 handler, 18 layers.
BASE = textwrap.dedent(
    """\
    version: 1
    layers:
      common:
        source: layers/common
        build:
          method: python
          requirements: requirements.txt
        compatible_runtimes: [python3.11, python3.12]
        compatible_architectures: [x86_64]
      tools:
        source: layers/tools
        build: {method: files}
    functions:
      orders:
        source: functions/orders
        runtime: python3.12
        handler: app.handler
        layers: [common, tools]
    """
)

ARN = "arn:aws:lambda:us-east-1:123456789012:layer:vendor{}:3"
VENDORS = [ARN.format(i) for i in range(4)]
SIXTEEN_RUNTIMES = [
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14", "nodejs18.x",
    "nodejs20.x", "nodejs22.x", "nodejs24.x", "java11", "java17", "java21", "ruby3.2", "ruby3.3", "ruby3.4",
]  # fmt: skip


def variant(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# (case id, config text, expected line, expected field, expected words of problem and fix)
# fmt: off
CASES: list[tuple[str, str, int, str, str]] = [
    ("unknown-key", variant("    source: layers/common\n", "    sorce: layers/common\n"), 4,
     "layers.common.sorce", "unknown key; did you mean 'source'?"),
    ("unknown-top-level-key", BASE + "extras: 1\n", 19, "extras", "unknown key; remove it; allowed here"),
    ("unknown-build-key", variant("build: {method: files}", "build: {method: files, comand: x}"), 12,
     "layers.tools.build.comand", "did you mean 'command'?"),
    ("missing-field", variant("    build: {method: files}\n", ""), 10, "layers.tools.build",
     "required key is missing; add 'build:'"),
    ("missing-version", variant("version: 1\n", ""), 1, "version", "required key is missing; add 'version:'"),
    ("wrong-type-list", variant("[python3.11, python3.12]", "python3.12"), 8,
     "layers.common.compatible_runtimes", "expected a list, got the text 'python3.12'; write it as a list"),
    ("wrong-type-number", variant("  orders:\n", "  orders:\n    memory: lots\n"), 15,
     "functions.orders.memory", "expected a whole number, got the text 'lots'"),
    ("wrong-type-mapping", variant("build: {method: files}", "build: files"), 12, "layers.tools.build",
     "expected a mapping, got the text 'files'"),
    ("unknown-method", variant("method: python", "method: pyhton"), 6, "layers.common.build.method",
     "'pyhton' is not one of python, nodejs, files, command; use one of them"),
    ("unknown-runtime", variant("[python3.11, python3.12]", "[python3.11, pyhton3.12]"), 8,
     "layers.common.compatible_runtimes[1]", "is not a supported Lambda runtime; did you mean python3.12"),
    ("deprecated-runtime", variant("runtime: python3.12", "runtime: nodejs16.x"), 16,
     "functions.orders.runtime", "'nodejs16.x' is not a supported Lambda runtime"),
    ("wrong-version", variant("version: 1", "version: 2"), 1, "version", "2 is not supported, only 1 is"),
    ("duplicate-layer-name", variant("  tools:\n", "  common:\n"), 10, "layers.common",
     "duplicate key 'common' (first defined at line 3); remove or rename one"),
    ("duplicate-function-key", BASE + "  orders:\n    source: functions/orders\n", 19, "functions.orders",
     "duplicate key 'orders' (first defined at line 14)"),
    ("case-collision", variant("  tools:\n", "  Common:\n"), 10, "layers.Common",
     "differs from layer 'common' (line 3) only in letter case"),
    ("unknown-layer", variant("[common, tools]", "[common, toolz]"), 18, "functions.orders.layers[1]",
     "unknown layer 'toolz'; did you mean 'tools'?"),
    ("missing-layer-folder", variant("source: layers/common", "source: layers/nope"), 4,
     "layers.common.source", "folder 'layers/nope' does not exist"),
    ("missing-function-folder", variant("source: functions/orders", "source: functions/gone"), 15,
     "functions.orders.source", "folder 'functions/gone' does not exist"),
    ("missing-requirements", variant("requirements: requirements.txt", "requirements: reqs.txt"), 7,
     "layers.common.build.requirements", "file 'layers/common/reqs.txt' does not exist"),
    ("six-layers", variant("[common, tools]", f"[common, tools, {', '.join(repr(a) for a in VENDORS)}]"), 18,
     "functions.orders.layers", "lists 6 entries, at most 5 are allowed; remove 1"),
    ("incompatible-runtime", variant("runtime: python3.12", "runtime: python3.13"), 18,
     "functions.orders.layers[0]",
     "runs python3.13 but layer 'common' is compatible only with python3.11, python3.12; "
     "add python3.13 to layers.common.compatible_runtimes (line 8)"),
    ("incompatible-architecture",
     variant("    runtime: python3.12\n", "    runtime: python3.12\n    architecture: arm64\n"), 19,
     "functions.orders.layers[0]",
     "runs on arm64 but layer 'common' is compatible only with x86_64; "
     "add arm64 to layers.common.compatible_architectures (line 9)"),
    ("ignore-unknown-layer",
     BASE + "settings:\n  ignore:\n    - {layer: common}\n    - {layer: comon, function: orders}\n", 22,
     "settings.ignore[1].layer", "unknown layer 'comon'; name one of the layers: common, tools"),
    ("ignore-unknown-function",
     BASE + "settings:\n  ignore:\n    - {layer: tools, function: order}\n", 21,
     "settings.ignore[0].function", "unknown function 'order'; name one of the functions: orders"),
    ("ignore-without-layer", BASE + "settings:\n  ignore:\n    - {function: orders}\n", 21,
     "settings.ignore[0].layer", "required key is missing; add 'layer:'"),
    ("yaml-syntax", variant("[python3.11, python3.12]", "[python3.11, python3.12"), 9, "syntax",
     "fix the YAML syntax"),
    ("tab-indent", variant("    build: {method: files}\n", "\tbuild: {method: files}\n"), 12, "syntax",
     "indent with spaces, not tabs"),
    ("bad-layer-name", variant("  tools:\n", "  tools!:\n"), 10, "layers.tools!",
     "'tools!' is not a valid layer name; use only letters, digits, '-' and '_'"),
    ("long-layer-name", variant("  tools:\n", "  " + "t" * 141 + ":\n"), 10, "layers." + "t" * 141,
     "the layer name is 141 characters, at most 140 are allowed"),
    ("long-description", variant("  tools:\n", "  tools:\n    description: " + "d" * 257 + "\n"), 11,
     "layers.tools.description", "is 257 characters, at most 256 are allowed; shorten it by 1"),
    ("bad-region", variant("  tools:\n", "  tools:\n    regions: [us-east-1, useast2]\n"), 11,
     "layers.tools.regions[1]", "'useast2' is not a valid AWS region; use a region code such as us-east-1"),
    ("bad-account", variant("  tools:\n", "  tools:\n    share_with: {accounts: ['12345']}\n"), 11,
     "layers.tools.share_with.accounts[0]", "'12345' is not a valid AWS account id"),
    ("unquoted-account", BASE + "settings:\n  account: 123456789012\n", 20, "settings.account",
     'expected text, got the number 123456789012; put it in quotes, e.g. "123456789012"'),
    ("too-many-runtimes", variant("[python3.11, python3.12]", f"[{', '.join(SIXTEEN_RUNTIMES)}]"), 8,
     "layers.common.compatible_runtimes", "lists 16 entries, at most 15 are allowed"),
    ("too-many-architectures", variant("[x86_64]", "[x86_64, arm64, arm64]"), 9,
     "layers.common.compatible_architectures", "lists 3 entries, at most 2 are allowed"),
    ("same-layer-twice", variant("[common, tools]", "[common, tools, common]"), 18,
     "functions.orders.layers[2]", "layer 'common' is listed twice (also entry 0); remove the repeat"),
    ("command-without-command", variant("build: {method: files}", "build: {method: command}"), 12,
     "layers.tools.build", "method 'command' needs a 'command'"),
    ("python-without-requirements", variant("      requirements: requirements.txt\n", ""), 5,
     "layers.common.build", "a python layer needs 'requirements'"),
    ("requirements-for-files", variant("{method: files}", "{method: files, requirements: r.txt}"), 12,
     "layers.tools.build.requirements", "'requirements' is not used by method 'files'"),
    ("unbalanced-test-quotes", BASE + "    test: pytest -k 'slow\n", 19, "functions.orders.test",
     "cannot split \"pytest -k 'slow\" into arguments (No closing quotation); balance the quotes"),
    ("function-without-runtime", variant("    runtime: python3.12\n", ""), 14, "functions.orders",
     "function 'orders' has no 'runtime' and no template declares it"),
    ("missing-pin-file", BASE + "    pins: [deploy/template.yaml]\n", 19, "functions.orders.pins[0]",
     "file 'deploy/template.yaml' does not exist"),
    ("missing-template", BASE + "templates: [template.yaml]\n", 19, "templates[0]",
     "template 'template.yaml' does not exist"),
    ("template-is-a-folder", BASE + "templates: [functions/orders]\n", 19, "templates[0]",
     "template 'functions/orders' is a folder, not a file; name the template file in it"),
    ("timeout-out-of-range", BASE + "    timeout: 1000\n", 19, "functions.orders.timeout",
     "1000 is out of range; use a value from 1 to 900"),
    ("bad-environment-name", BASE + "    environment:\n      1BAD: x\n", 20,
     "functions.orders.environment.1BAD", "is not a valid environment variable name"),
    ("bad-pin-pattern", BASE + "settings:\n  pin_patterns: ['layer:(?P<layer>\\w+)']\n", 20,
     "settings.pin_patterns[0]", "has no (?P<version>...) group"),
    ("empty-layers", "version: 1\nlayers: {}\n", 2, "layers", "is empty; add at least one entry"),
    ("null-layers", "version: 1\nlayers:\n", 2, "layers", "expected a mapping, got nothing"),
    ("bad-arn", variant("[common, tools]", "[common, 'arn:aws:lambda:us-east-1:123:layer:x:1']"), 18,
     "functions.orders.layers[1]", "is not a valid layer name or layer version ARN"),
    ("unsupported-tag", variant("version: 1", "version: !!python/object:os.system 1"), 1, "version",
     "unsupported YAML tag"),
    ("two-documents", BASE + "---\nversion: 1\n", 19, "syntax", "keep a single YAML document"),
    ("empty-file", "", 1, "(top level)", "the file is empty; start it with 'version: 1'"),
    ("comments-only", "# nothing yet\n", 1, "(top level)", "the file is empty"),
    ("list-top-level", "- version: 1\n", 1, "(top level)", "the top level must be a mapping"),
    ("source-outside-repository", variant("source: layers/common", "source: ../elsewhere"), 4,
     "layers.common.source", "folder '../elsewhere' is outside the repository"),
    ("absolute-source-outside", variant("source: layers/common", "source: /usr/lib"), 4,
     "layers.common.source", "folder '/usr/lib' is outside the repository"),
    ("layer-source-is-the-root", variant("source: layers/common", "source: ."), 4, "layers.common.source",
     "a layer's source cannot be the repository root"),
    ("function-source-outside", variant("source: functions/orders", "source: ../functions/orders"), 15,
     "functions.orders.source", "folder '../functions/orders' is outside the repository"),
    ("own-account-arn-undeclared",
     variant("[common, tools]", "[common, 'arn:aws:lambda:us-east-1:000000000000:layer:toolz:3']"), 18,
     "functions.orders.layers[1]", "layer 'toolz' is not declared in layer-ci.yml; did you mean 'tools'?"),
    ("configured-account-arn-undeclared",
     variant("[common, tools]", "[common, 'arn:aws:lambda:eu-west-1:123456789012:layer:shared:3']")
     + "settings:\n  account: '123456789012'\n", 18, "functions.orders.layers[1]",
     "layer 'shared' is not declared in layer-ci.yml; declare it under layers:"),
    # Control characters and trailing newlines: names, regions and paths print as one line or not at all.
    ("newline-in-requirements", variant("requirements: requirements.txt",
                                        'requirements: "requirements.txt\\n::set-output name=x::y"'), 7,
     "layers.common.build.requirements", "is not a valid one-line value; remove the newline"),
    ("trailing-newline-in-source", variant("source: layers/tools", 'source: "layers/tools\\n"'), 11,
     "layers.tools.source", "'layers/tools\\n' is not a valid one-line value"),
    ("escape-in-handler", variant("handler: app.handler", 'handler: "app.handler\\e[2J"'), 17,
     "functions.orders.handler", "is not a valid one-line value"),
    ("handler-climbing-out", variant("handler: app.handler", "handler: ../shared/app.handler"), 17,
     "functions.orders.handler", "handler '../shared/app.handler' leads out of the function's code folder"),
    ("handler-too-long", variant("handler: app.handler", f"handler: app.{'h' * 130}"), 17,
     "functions.orders.handler", "is not a handler Lambda accepts (1 to 128 characters, no spaces)"),
    ("carriage-return-in-template", BASE + 'templates: ["template.yaml\\r::warning::x"]\n', 19,
     "templates[0]", "is not a valid one-line value"),
    ("trailing-newline-in-layer-name", variant("  tools:\n", '  "tools\\n":\n'), 10,
     "layers['tools\\n']", "'tools\\n' is not a valid layer name"),
    ("trailing-newline-in-region", variant("    compatible_architectures: [x86_64]\n",
                                           '    compatible_architectures: [x86_64]\n'
                                           '    regions: ["us-east-1\\n"]\n'), 10,
     "layers.common.regions[0]", "'us-east-1\\n' is not a valid AWS region"),
]
# fmt: on
CASE_IDS = [case[0] for case in CASES]
