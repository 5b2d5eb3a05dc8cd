"""Reads functions and their layer references from SAM/CloudFormation templates (YAML or JSON)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layer_ci.config.yamldoc import Document, FieldPath, YamlMap
from layer_ci.errors import ConfigError
from layer_ci.fsutil import containment_problem, is_inside
from layer_ci.lambda_spec.limits import ARCHITECTURES, LAMBDA_RUNTIMES, handler_problem

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
FUNCTION_TYPES = frozenset({SERVERLESS_FUNCTION, "AWS::Lambda::Function"})
LAYER_TYPES = frozenset({"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})

# arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION; the parts before NAME may still hold ${...}
# placeholders when the ARN came from !Sub (pseudo parameters such as ${AWS::Region}).
_PART = r"(?:\$\{[^}]*\}|[^:\s$])+"
LAYER_ARN = re.compile(
    rf"^arn:{_PART}:lambda:{_PART}:(?P<account>{_PART}):layer:(?P<name>{_PART}):(?P<version>{_PART})$"
)
SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")
# Lambda numbers versions from 1 and accounts have 12 digits; a placeholder left by !Sub is let through.
_PLACEHOLDERS = r"(?=[0-9]*\$\{)(?:\$\{[^}]*\}|[0-9])+"  # ${V}, ${Major}${Minor}, 1${Patch}
LAYER_VERSION = re.compile(rf"[1-9][0-9]{{0,15}}|{_PLACEHOLDERS}")
ACCOUNT_ID = re.compile(rf"[0-9]{{12}}|{_PLACEHOLDERS}")
# CloudFormation's dynamic references ({{resolve:ssm:/x}}) are known only at deploy time.
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:")
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
LAYER_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Lambda's own limits on these properties (CreateFunction's API reference).
MEMORY_MB = (128, 10240, "MB")
TIMEOUT_S = (1, 900, "seconds")


@dataclass(frozen=True)
class LayerRef:
    """One entry of a function's Layers: a layer-ci layer (by name) or an external layer version ARN."""

    value: str
    external: bool
    document: Document
    path: FieldPath

    def error(self, problem: str, fix: str) -> ConfigError:
        return self.document.error(self.path, problem, fix)


@dataclass(frozen=True)
class TemplateFunction:
    """A function as a template declares it; paths are absolute, ``template`` is relative to the root."""

    name: str
    template: str
    source: Path
    runtime: str
    architecture: str
    handler: str
    memory_mb: int | None
    timeout_s: int | None
    environment: tuple[tuple[str, str], ...]
    layers: tuple[LayerRef, ...]
    document: Document
    path: FieldPath


@dataclass(frozen=True)
class TemplateLayer:
    """A LayerVersion resource: the compatible lists it gives (None: the property is absent)."""

    name: str
    architectures: tuple[str, ...] | None
    runtimes: tuple[str, ...] | None
    document: Document
    path: FieldPath


class _Template:
    """One parsed template and the lookups its functions need (parameters, layer resources, globals)."""

    def __init__(
        self,
        document: Document,
        folder: Path,
        relative: str,
        layer_names: Collection[str],
        *,
        root: Path | None = None,
        account: str | None = None,
    ) -> None:
        self.document = document
        self.folder = folder
        self.relative = relative
        self.layer_names = layer_names
        self.root = root
        self.account = account
        data = document.data
        if not isinstance(data, dict):
            raise document.error(
                (), "a template must be a mapping", "check that this is a SAM/CloudFormation template"
            )
        self.data: Mapping[str, Any] = data
        self.resources = self.mapping(("Resources",), required=True)
        self.parameters = self.mapping(("Parameters",))
        globals_ = self.mapping(("Globals",))
        function_globals = globals_.get("Function")
        self.globals: Mapping[str, Any] = function_globals if isinstance(function_globals, dict) else {}

    def mapping(self, path: FieldPath, *, required: bool = False) -> Mapping[str, Any]:
        value: Any = self.data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None and not required:
            return YamlMap(0)
        if not isinstance(value, dict):
            raise self.document.error(path, "expected a mapping", "fix the template")
        return value

    def functions(self) -> list[TemplateFunction]:
        found = []
        for logical_id, resource in self.resources.items():
            if isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES:
                function = self.function(logical_id, resource)
                if function is not None:
                    found.append(function)
        return found

    def layers(self) -> list[TemplateLayer]:
        found = []
        for logical_id, resource in self.resources.items():
            if not (isinstance(resource, dict) and resource.get("Type") in LAYER_TYPES):
                continue
            properties = resource.get("Properties")
            properties = properties if isinstance(properties, dict) else {}
            layer_name = properties.get("LayerName")
            path: FieldPath = ("Resources", logical_id)
            found.append(
                TemplateLayer(
                    name=layer_name if isinstance(layer_name, str) else logical_id,
                    architectures=self.string_list(properties, "CompatibleArchitectures"),
                    runtimes=self.string_list(properties, "CompatibleRuntimes"),
                    document=self.document,
                    path=path,
                )
            )
        return found

    def string_list(self, properties: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
        value = properties.get(key)
        if value is None:
            return None
        value = self.literal(value)  # a !Ref to a CommaDelimitedList parameter gives its Default
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return None  # built by intrinsics layer-ci cannot evaluate: as if absent
        return tuple(value)

    # -- one function -----------------------------------------------------------------------------

    def function(self, logical_id: str, resource: Mapping[str, Any]) -> TemplateFunction | None:
        base: FieldPath = ("Resources", logical_id)
        properties = resource.get("Properties", {})
        if not isinstance(properties, dict):
            raise self.document.error((*base, "Properties"), "expected a mapping", "fix the template")
        serverless = resource.get("Type") == SERVERLESS_FUNCTION
        defaults: Mapping[str, Any] = self.globals if serverless else {}
        props: FieldPath = (*base, "Properties")

        def prop(name: str) -> tuple[Any, FieldPath]:
            if name in properties or name not in defaults:  # a missing value is the resource's to give
                return properties.get(name), (*props, name)
            return defaults[name], ("Globals", "Function", name)

        package_type, _ = prop("PackageType")
        if package_type == "Image":  # container images cannot use layers
            return None
        code_value, code_path = prop("CodeUri" if serverless else "Code")
        source = self.code_folder(code_value)
        runtime_value, runtime_path = prop("Runtime")
        runtime = self.literal(runtime_value)
        local = source is not None and isinstance(runtime, str)
        try:
            layers = tuple(self.layer_refs(logical_id, properties, defaults, serverless))
        except ConfigError:
            if local:
                raise
            return None
        if source is None or not isinstance(runtime, str):
            if not any(not ref.external for ref in layers):
                # Neither testable here nor using a layer of ours: a function layer-ci has no say over.
                return None
            if source is None:
                raise self.document.error(
                    code_path,
                    "the function's code is not a local folder",
                    "point CodeUri/Code at the function's folder so layer-ci can test it with new layers",
                )
            raise self.document.error(
                runtime_path, "the runtime is missing or not a plain value", "give Runtime, e.g. python3.12"
            )
        if self.root is not None and not is_inside(source, self.root):
            raise self.document.error(
                code_path,
                f"folder '{code_value}' is outside the repository ({self.root}, the folder of layer-ci.yml)",
                "keep the function's code inside the repository and point CodeUri/Code at it",
            )
        if self.root is not None and (problem := containment_problem(source, self.root)) is not None:
            raise self.document.error(
                code_path,
                f"folder '{code_value}' {problem}",
                "keep the function's code inside the repository (a real folder, not a symlink leading "
                "out) and point CodeUri/Code at it",
            )
        if not source.is_dir():
            if not any(not ref.external for ref in layers):
                # Code a build step makes (a Maven zip under target/) of a function using none of our
                # layers: nothing here for layer-ci to test, and refusing the template would stop every run.
                return None
            if source.exists():
                raise self.document.error(
                    code_path,
                    f"'{code_value}' is a file (a built zip?), not the function's code folder",
                    "point CodeUri/Code at the folder it is built from, so layer-ci can test the function "
                    "against new versions of its layers",
                )
            raise self.document.error(
                code_path,
                f"folder '{code_value}' does not exist",
                f"create it or fix the path (relative to {self.folder})",
            )
        if runtime not in LAMBDA_RUNTIMES and any(not ref.external for ref in layers):
            close = difflib.get_close_matches(runtime, LAMBDA_RUNTIMES, n=1)
            raise self.document.error(
                runtime_path,
                f"{runtime!r} is not a supported Lambda runtime",
                f"did you mean {close[0]}?" if close else f"use one of {', '.join(LAMBDA_RUNTIMES)}",
            )
        architectures, arch_path = prop("Architectures")
        architecture = "x86_64"
        if architectures is not None:
            first = (
                self.literal(architectures[0]) if isinstance(architectures, list) and architectures else None
            )
            if first not in ARCHITECTURES:
                raise self.document.error(
                    arch_path, f"cannot read the architecture {architectures!r}", "use [x86_64] or [arm64]"
                )
            architecture = str(first)
        try:
            handler = self.handler(*prop("Handler"), runtime)
            memory = self.integer(*prop("MemorySize"), bounds=MEMORY_MB)
            timeout = self.integer(*prop("Timeout"), bounds=TIMEOUT_S)
        except ConfigError:
            if any(not ref.external for ref in layers):
                raise  # layer-ci runs this function against new layers: it must be what Lambda runs
            # A function using none of our layers is for `layer-ci test` only: its own values stand.
            handler, memory, timeout = str(self.literal(prop("Handler")[0]) or ""), None, None
        return TemplateFunction(
            name=logical_id,
            template=self.relative,
            source=source,
            runtime=runtime,
            architecture=architecture,
            handler=handler,
            memory_mb=memory,
            timeout_s=timeout,
            environment=self.environment(properties, defaults),
            layers=layers,
            document=self.document,
            path=base,
        )

    def code_folder(self, value: Any) -> Path | None:
        if not isinstance(value, str) or "://" in value:  # S3 locations, {Bucket, Key}, inline code
            return None
        return Path(os.path.normpath(self.folder / value))

    def literal(self, value: Any) -> Any:
        """A plain value, following a !Ref to a parameter's Default; None when it cannot be known."""
        if isinstance(value, dict):
            if set(value) == {"Ref"} and isinstance(self.parameters.get(value["Ref"]), dict):
                return self.parameters[value["Ref"]].get("Default")
            return None
        if isinstance(value, str) and DYNAMIC_REFERENCE.search(value):
            return None
        return value

    def integer(self, value: Any, path: FieldPath, bounds: tuple[int, int, str]) -> int | None:
        """A whole number within Lambda's ``bounds`` (lowest, highest, unit), or None when not given."""
        value = self.literal(value)
        if value is None:
            return None
        lowest, highest, unit = bounds
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and WHOLE_NUMBER.fullmatch(value)  # not '3_0', ' 30 ' or other digits
        ):
            number = int(value)
        if number is None:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise self.document.error(
                path, f"expected a whole number of {unit}, got {shown}", f"write {lowest} to {highest}"
            )
        if not lowest <= number <= highest:
            raise self.document.error(
                path,
                f"{number if abs(number) < 10**9 else 'so many'} {unit} is outside what Lambda accepts",
                f"write {lowest} to {highest}",
            )
        return number

    def handler(self, value: Any, path: FieldPath, runtime: str) -> str:
        value = self.literal(value)
        if value is None:
            return ""
        text = str(value)
        if (problem := handler_problem(text, runtime)) is not None:
            raise self.document.error(path, *problem)
        return text

    def environment(
        self, properties: Mapping[str, Any], defaults: Mapping[str, Any]
    ) -> tuple[tuple[str, str], ...]:
        merged: dict[str, str] = {}
        for source in (defaults, properties):  # SAM merges Globals' maps with the function's, function wins
            environment = source.get("Environment")
            variables = environment.get("Variables") if isinstance(environment, dict) else None
            if isinstance(variables, dict):
                for key, value in variables.items():
                    value = self.literal(value)
                    if isinstance(value, bool):
                        merged[key] = str(value).lower()
                    elif isinstance(value, str | int | float):
                        merged[key] = str(value)
        return tuple(merged.items())

    # -- layer references -------------------------------------------------------------------------

    def layer_refs(
        self, logical_id: str, properties: Mapping[str, Any], defaults: Mapping[str, Any], serverless: bool
    ) -> list[LayerRef]:
        # SAM adds a function's list to Globals' list (Globals first); CloudFormation has no Globals.
        lists: list[tuple[Any, FieldPath]] = []
        if serverless and "Layers" in defaults:
            lists.append((defaults["Layers"], ("Globals", "Function", "Layers")))
        if "Layers" in properties:
            lists.append((properties["Layers"], ("Resources", logical_id, "Properties", "Layers")))
        refs: list[LayerRef] = []
        for entries, path in lists:
            if not isinstance(entries, list):
                raise self.document.error(path, "Layers must be a list here", "list each layer ARN or !Ref")
            refs.extend(self.layer_ref(entry, (*path, index)) for index, entry in enumerate(entries))
        return refs

    def layer_ref(self, entry: Any, path: FieldPath) -> LayerRef:
        if isinstance(entry, str):
            return self.from_arn(entry, path)
        if isinstance(entry, dict) and set(entry) == {"Ref"} and isinstance(entry["Ref"], str):
            return self.from_ref(entry["Ref"], path)
        if isinstance(entry, dict) and set(entry) == {"Fn::Sub"}:
            return self.from_arn(self.substitute(entry["Fn::Sub"], path), path)
        raise self.document.error(
            path,
            "cannot read this layer reference",
            "use a layer version ARN, !Sub with one, or !Ref to a LayerVersion resource or a parameter",
        )

    def from_arn(self, arn: str, path: FieldPath) -> LayerRef:
        match = LAYER_ARN.match(arn)
        if match is None:
            raise self.document.error(
                path,
                f"{arn!r} is not a layer version ARN",
                "write arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
            )
        name = match["name"]
        if not LAYER_NAME.fullmatch(name):
            raise self.document.error(
                path,
                f"the layer name in {arn!r} cannot be resolved",
                "write the layer's name literally in the ARN",
            )
        ours = name in self.layer_names or (self.account is not None and match["account"] == self.account)
        # Only our layers' ARNs must be well formed here: layer-ci tests and bumps them. A vendor's is
        # Lambda's to refuse at deploy time, and refusing it here would stop every run.
        if ours and not LAYER_VERSION.fullmatch(match["version"]):
            raise self.document.error(
                path,
                f"the version in {arn!r} is not a layer version number",
                "end the ARN with the version number, e.g. :layer:NAME:3 (versions count from 1)",
            )
        if ours and not ACCOUNT_ID.fullmatch(match["account"]):
            raise self.document.error(
                path,
                f"the account in {arn!r} is not a 12-digit AWS account ID",
                "write the layer owner's account ID, e.g. arn:aws:lambda:REGION:123456789012:layer:NAME:1",
            )
        if name in self.layer_names:
            return LayerRef(name, external=False, document=self.document, path=path)
        if self.account is not None and match["account"] == self.account:
            raise undeclared_layer_error(self.document, path, name, self.layer_names, self.account)
        return LayerRef(arn, external=True, document=self.document, path=path)

    def from_ref(self, target: str, path: FieldPath) -> LayerRef:
        resource = self.resources.get(target)
        if isinstance(resource, dict) and resource.get("Type") in LAYER_TYPES:
            properties = resource.get("Properties")
            layer_name = properties.get("LayerName") if isinstance(properties, dict) else None
            name = layer_name if isinstance(layer_name, str) else target
            if name in self.layer_names:
                return LayerRef(name, external=False, document=self.document, path=path)
            raise self.document.error(
                path,
                f"!Ref {target} is a layer named '{name}' that layer-ci.yml does not declare",
                f"add '{name}' under layers: in layer-ci.yml",
            )
        parameter = self.parameters.get(target)
        if isinstance(parameter, dict):
            default = parameter.get("Default")
            if isinstance(default, str) and LAYER_ARN.match(default):
                return self.from_arn(default, path)
            raise self.document.error(
                path,
                f"!Ref {target} names a parameter without a layer version ARN as Default",
                f"give Parameters.{target} a Default: arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
            )
        if resource is not None:
            raise self.document.error(
                path,
                f"!Ref {target} is a {resource.get('Type') if isinstance(resource, dict) else 'resource'}, "
                "not a layer version",
                "refer to a LayerVersion resource or a layer ARN",
            )
        raise self.document.error(
            path, f"!Ref {target} names no resource or parameter in this template", "fix the name"
        )

    def substitute(self, value: Any, path: FieldPath) -> str:
        """Expand a Fn::Sub string with its own variables and parameter defaults; pseudo parameters stay."""
        variables: dict[str, Any] = {}
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
            value, variables = value[0], dict(value[1])
        if not isinstance(value, str):
            raise self.document.error(path, "cannot read this !Sub", "use a string or [string, {variables}]")

        def expand(match: re.Match[str]) -> str:
            name = match[1]
            known = self.literal(variables[name]) if name in variables else self.literal({"Ref": name})
            return known if isinstance(known, str) else match[0]

        return SUB_VARIABLE.sub(expand, value)


def read_template(
    document: Document,
    folder: Path,
    relative: str,
    layer_names: Collection[str],
    *,
    root: Path | None = None,
    account: str | None = None,
) -> list[TemplateFunction]:
    """Every zip-packaged function of a parsed template, with its layers resolved against ``layer_names``.

    With ``root``, code folders must lie inside it. With ``account`` (settings.account), an ARN of a
    layer in that account must name a declared layer: layer-ci builds that account's layers, so an
    unknown name there is a typo rather than a vendor's layer.
    """
    return _Template(document, folder, relative, layer_names, root=root, account=account).functions()


def template_layers(document: Document, folder: Path, relative: str) -> list[TemplateLayer]:
    """Every LayerVersion resource of a parsed template, with its compatible architectures/runtimes."""
    return _Template(document, folder, relative, ()).layers()


def undeclared_layer_error(
    document: Document, path: FieldPath, name: str, declared: Collection[str], account: str
) -> ConfigError:
    """An ARN in the repository's own account naming a layer layer-ci.yml does not declare."""
    close = difflib.get_close_matches(name, list(declared), n=1)
    hint = f"did you mean '{close[0]}'? " if close else "declare it under layers:, or fix the name; "
    return document.error(
        path,
        f"layer '{name}' is not declared in layer-ci.yml",
        f"{hint}(layer ARNs in account {account}, settings.account, must name a layer layer-ci.yml declares)",
    )
