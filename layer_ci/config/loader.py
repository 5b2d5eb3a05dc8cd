"""Loads layer-ci.yml: parse, validate against the JSON Schema, check meaning, return a frozen Config."""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from layer_ci.config import sam
from layer_ci.config.build_rules import layer_problems
from layer_ci.config.pin_patterns import PinPatternEntry, compile_pin_patterns
from layer_ci.config.schema_errors import validate
from layer_ci.config.yamldoc import Document, FieldPath, read_document
from layer_ci.errors import ConfigError, Location
from layer_ci.fsutil import containment_problem, is_inside
from layer_ci.lambda_spec.arn import parse_layer_version_arn
from layer_ci.lambda_spec.limits import (
    ARCHITECTURES,
    LAMBDA_RUNTIMES,
    compatibility_problems,
    handler_problem,
)
from layer_ci.model import (
    MAX_LAYERS_PER_FUNCTION,
    Architecture,
    BuildMethod,
    BuildSpec,
    Config,
    FunctionSpec,
    IgnoreRule,
    LayerSpec,
    Settings,
    Sharing,
)

DEFAULT_CONFIG = Path("layer-ci.yml")
DEFAULT_REGIONS = ("us-east-1",)
DEFAULT_ARCHITECTURES: tuple[Architecture, ...] = ("x86_64",)
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3


def load_config(path: Path | None = None) -> Config:
    """Load and check a layer-ci.yml (default ./layer-ci.yml); its folder is the repository root.

    Raises ConfigError (one line: ``file:line: field: problem; fix``) for anything wrong.
    """
    config_path = Path(path) if path is not None else DEFAULT_CONFIG
    display = str(config_path)
    document = read_document(
        config_path,
        display,
        what="config file",
        missing_fix="create it (see docs/config.md) or pass --config PATH",
    )
    if document.data is None:
        raise ConfigError(
            Location(display, 1),
            "(top level)",
            "the file is empty",
            "start it with 'version: 1' and a 'layers:' mapping (see docs/config.md)",
        )
    if not isinstance(document.data, dict):
        raise document.error(
            (),
            "the top level must be a mapping of keys (version, layers, ...)",
            "start it with 'version: 1' and a 'layers:' mapping (see docs/config.md)",
        )
    validate(document)
    return _Loader(document, config_path.resolve()).config()


@dataclass
class _Field:
    """A function field's value and where it was written (layer-ci.yml or a template)."""

    value: Any
    document: Document
    path: FieldPath

    def error(self, problem: str, fix: str) -> ConfigError:
        return self.document.error(self.path, problem, fix)


@dataclass
class _Draft:
    """A function while template and layer-ci.yml entries are merged into one."""

    name: str
    document: Document
    path: FieldPath
    fields: dict[str, _Field] = field(default_factory=dict)
    layers: list[sam.LayerRef] = field(default_factory=list)
    layers_path: FieldPath = ()
    layers_document: Document | None = None
    pins: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields[key].value if key in self.fields else default


def _uses(draft: _Draft, layer: str) -> bool:
    return any(ref.value == layer and not ref.external for ref in draft.layers)


class _Loader:
    def __init__(self, document: Document, config_path: Path) -> None:
        self.doc = document
        self.data: Mapping[str, Any] = document.data
        self.path = config_path
        self.root = config_path.parent
        self.seen_parts: dict[str, bool] = {}  # path -> is a symlink, for the containment checks
        self.account = Settings().account
        # Layers whose compatible lists layer-ci.yml leaves out, and the templates' LayerVersion resources:
        # an omitted list follows the template (see follow_templates).
        self.unset: dict[str, set[str]] = {"compatible_architectures": set(), "compatible_runtimes": set()}
        self.template_layers: dict[str, sam.TemplateLayer] = {}
        self.from_template: dict[tuple[str, str], sam.TemplateLayer] = {}

    def error(self, path: FieldPath, problem: str, fix: str) -> ConfigError:
        return self.doc.error(path, problem, fix)

    def config(self) -> Config:
        settings = self.settings(self.data.get("settings") or {})
        self.account = settings.account
        by_name = {layer.name: layer for layer in self.layers()}
        templates = tuple(self.data.get("templates") or ())
        functions = self.functions(by_name, templates)
        for spec in by_name.values():
            # The build's own rules (config/build_rules.py), so nothing it would refuse waits for a build.
            for problem in layer_problems(spec):
                raise self.error(("layers", spec.name, *problem.field), problem.problem, problem.fix)
        self.check_ignore(settings, list(by_name.values()), functions)
        return Config(
            root=self.root,
            path=self.path,
            layers=tuple(by_name.values()),
            functions=tuple(functions),
            settings=settings,
            templates=templates,
        )

    # -- settings ---------------------------------------------------------------------------------

    def settings(self, raw: Mapping[str, Any]) -> Settings:
        defaults = Settings()
        for index, pattern in enumerate(raw.get("pin_patterns", ())):
            self.check_pin_pattern(pattern, ("settings", "pin_patterns", index))
        prune = raw.get("prune") or {}
        pins_exclude = tuple((raw.get("pins") or {}).get("exclude", ()))
        for index, glob in enumerate(pins_exclude):
            self.check_exclude_glob(glob, ("settings", "pins", "exclude", index))
        return Settings(
            registry=raw.get("registry", defaults.registry),
            registry_path=raw.get("registry_path", defaults.registry_path),
            account=raw.get("account", defaults.account),
            artifact_bucket=raw.get("artifact_bucket", defaults.artifact_bucket),
            retry_mode=raw.get("retry_mode", defaults.retry_mode),
            pr_mode=raw.get("pull_requests", defaults.pr_mode),
            labels=tuple(raw.get("labels", defaults.labels)),
            failure_label=raw.get("failure_label", defaults.failure_label),
            auto_merge=raw.get("auto_merge", defaults.auto_merge),
            prune_keep=prune.get("keep", defaults.prune_keep),
            prune_grace_days=prune.get("grace_days", defaults.prune_grace_days),
            pin_patterns=tuple(
                dict(entry) if isinstance(entry, Mapping) else entry for entry in raw.get("pin_patterns", ())
            ),
            pins_exclude=pins_exclude,
            ignore=tuple(
                IgnoreRule(entry["layer"], entry.get("function"), entry.get("reason") or "")
                for entry in raw.get("ignore", ())
            ),
        )

    def check_exclude_glob(self, glob: str, path: FieldPath) -> None:
        from layer_ci.config.pin_patterns import exclude_spec

        try:
            spec = exclude_spec([glob])
        except ValueError as exc:
            raise self.error(path, f"{glob!r} is not a valid glob: {exc}", "use .gitignore syntax") from exc
        if spec is None or all(pattern.regex is None for pattern in spec.patterns):
            # .gitignore drops blank lines, comments and unclosed brackets without a word: so would we.
            raise self.error(
                path,
                f"{glob!r} excludes nothing (blank, a # comment, or an unclosed '[')",
                "write a .gitignore glob such as docs/ or **/fixtures/*.json; escape a literal [ or # as \\[",
            )

    def check_ignore(
        self, settings: Settings, layers: Sequence[LayerSpec], functions: Sequence[FunctionSpec]
    ) -> None:
        layer_names = [layer.name for layer in layers]
        function_names = [function.name for function in functions]
        for index, rule in enumerate(settings.ignore):
            path: FieldPath = ("settings", "ignore", index)
            if rule.layer not in layer_names:
                raise self.error(
                    (*path, "layer"),
                    f"unknown layer '{rule.layer}'",
                    f"name one of the layers: {', '.join(layer_names)}",
                )
            if rule.function is not None and rule.function not in function_names:
                raise self.error(
                    (*path, "function"),
                    f"unknown function '{rule.function}'",
                    f"name one of the functions: {', '.join(function_names)}",
                )

    def check_pin_pattern(self, pattern: PinPatternEntry, path: FieldPath) -> None:
        try:
            compile_pin_patterns([pattern], Location(str(self.path)))
        except ConfigError as exc:
            raise self.error(path, exc.problem, exc.fix) from exc

    # -- layers -----------------------------------------------------------------------------------

    def layers(self) -> list[LayerSpec]:
        specs: list[LayerSpec] = []
        folded: dict[str, str] = {}
        for name, raw in self.data["layers"].items():
            base: FieldPath = ("layers", name)
            other = folded.setdefault(name.casefold(), name)
            if other != name:
                raise self.error(
                    base,
                    f"layer '{name}' differs from layer '{other}' "
                    f"(line {self.doc.line_of(('layers', other))}) only in letter case",
                    "rename one: build outputs and the local registry must not clash on "
                    "case-insensitive disks",
                )
            specs.append(self.layer(name, raw, base))
        return specs

    def layer(self, name: str, raw: Mapping[str, Any], base: FieldPath) -> LayerSpec:
        source = self.folder(raw["source"], (*base, "source"), below_root=True)
        build = self.build(raw["build"], source, (*base, "build"))
        sharing = raw.get("share_with") or {}
        for key, names in self.unset.items():
            if key not in raw:
                names.add(name)
        return LayerSpec(
            name=name,
            source=source,
            build=build,
            compatible_runtimes=tuple(raw.get("compatible_runtimes", ())),
            compatible_architectures=tuple(raw.get("compatible_architectures", DEFAULT_ARCHITECTURES)),
            regions=tuple(raw.get("regions", DEFAULT_REGIONS)),
            license=raw.get("license"),
            description=raw.get("description", ""),
            sharing=Sharing(
                accounts=tuple(sharing.get("accounts", ())),
                organization=sharing.get("organization"),
                public=sharing.get("public", False),
            ),
            location=self.doc.location(base),
        )

    def build(self, raw: Mapping[str, Any], source: Path, path: FieldPath) -> BuildSpec:
        method = cast(BuildMethod, raw["method"])
        requirements = raw.get("requirements")
        if method == "python" and requirements is None:
            raise self.error(
                path,
                "a python layer needs 'requirements'",
                "add 'requirements: requirements.txt' (a requirements or lock file inside the source folder)",
            )
        if requirements is not None:
            if method not in ("python", "nodejs"):
                raise self.error(
                    (*path, "requirements"),
                    f"'requirements' is not used by method '{method}'",
                    "remove it, or use method python or nodejs",
                )
            self.file(source / requirements, (*path, "requirements"), "inside the layer's source folder")
        command: tuple[str, ...] = ()
        if method == "command":
            if "command" not in raw:
                raise self.error(
                    path,
                    "method 'command' needs a 'command'",
                    "add 'command: [make, layer]' (argv that fills the folder named by $LAYER_CI_OUT)",
                )
            command = self.argv(raw["command"], (*path, "command"))
        elif "command" in raw:
            raise self.error(
                (*path, "command"),
                f"'command' is not used by method '{method}'",
                "remove it or set method: command",
            )
        return BuildSpec(
            method=method,
            requirements=requirements,
            command=command,
            binary_only=raw.get("binary_only", True),
            require_hashes=raw.get("require_hashes", False),
        )

    # -- functions --------------------------------------------------------------------------------

    def functions(self, layers: dict[str, LayerSpec], templates: tuple[str, ...]) -> list[FunctionSpec]:
        """The functions, once every template is read; ``layers`` is updated to follow the templates."""
        drafts: dict[str, _Draft] = {}
        for index, template in enumerate(templates):
            for function in self.template_functions(template, ("templates", index), layers):
                if function.name in drafts:
                    first = drafts[function.name]
                    raise function.document.error(
                        function.path,
                        f"function '{function.name}' is also declared at "
                        f"{first.document.location(first.path)}",
                        "give each function a distinct logical id",
                    )
                drafts[function.name] = self.draft_from_template(function)
        for name, raw in (self.data.get("functions") or {}).items():
            self.merge_config_function(drafts, name, raw, layers)
        self.follow_templates(layers, list(drafts.values()))
        folded: dict[str, str] = {}
        specs = []
        for draft in drafts.values():
            other = folded.setdefault(draft.name.casefold(), draft.name)
            if other != draft.name:
                raise draft.document.error(
                    draft.path,
                    f"function '{draft.name}' differs from function '{other}' only in letter case",
                    "rename one: names must stay distinct on case-insensitive disks",
                )
            specs.append(self.function_spec(draft, layers))
        return specs

    def template_functions(
        self, template: str, path: FieldPath, layers: Mapping[str, LayerSpec]
    ) -> list[sam.TemplateFunction]:
        template_path = self.root / template
        if not template_path.is_file() and is_inside(os.path.normpath(template_path), self.root):
            if template_path.is_dir():
                raise self.error(
                    path,
                    f"template '{template}' is a folder, not a file",
                    "name the template file in it, e.g. " + (Path(template) / "template.yaml").as_posix(),
                )
            raise self.error(path, f"template '{template}' does not exist", self.relative_fix("a file"))
        self.file(template_path, path, f"relative to {self.root}")
        display = os.path.normpath(os.path.join(os.path.dirname(self.doc.display), template))
        document = read_document(template_path, display, cfn=True, what="template")
        for resource in sam.template_layers(document, template_path.parent, Path(template).as_posix()):
            if resource.name in layers:
                self.template_layers.setdefault(resource.name, resource)
        return sam.read_template(
            document,
            template_path.parent,
            Path(template).as_posix(),
            layers.keys(),
            root=self.root,
            account=self.account,
        )

    def follow_templates(self, layers: dict[str, LayerSpec], drafts: list[_Draft]) -> None:
        """Fill the compatible lists layer-ci.yml leaves out from the layer's LayerVersion resource.

        The template's CompatibleArchitectures/CompatibleRuntimes when it lists them. A template
        LayerVersion without CompatibleArchitectures restricts nothing (an arm64 function may use it,
        as SAM allows): the layer is built and published for the architectures of the functions using it.
        """
        for name, resource in self.template_layers.items():
            changes: dict[str, Any] = {}
            if name in self.unset["compatible_architectures"]:
                listed = resource.architectures
                if listed is not None:
                    self.check_template_list(resource, "CompatibleArchitectures", listed, ARCHITECTURES)
                    changes["compatible_architectures"] = listed
                    self.from_template[(name, "compatible_architectures")] = resource
                else:
                    used = {draft.get("architecture", "x86_64") for draft in drafts if _uses(draft, name)}
                    if used:
                        changes["compatible_architectures"] = tuple(a for a in ARCHITECTURES if a in used)
            if name in self.unset["compatible_runtimes"] and resource.runtimes:
                self.check_template_list(resource, "CompatibleRuntimes", resource.runtimes, LAMBDA_RUNTIMES)
                changes["compatible_runtimes"] = resource.runtimes
                self.from_template[(name, "compatible_runtimes")] = resource
            if changes:
                layers[name] = replace(layers[name], **changes)

    def check_template_list(
        self, resource: sam.TemplateLayer, key: str, values: tuple[str, ...], allowed: Collection[str]
    ) -> None:
        wrong = [value for value in values if value not in allowed]
        if wrong:
            raise resource.document.error(
                (*resource.path, "Properties", key),
                f"{wrong[0]!r} is not a Lambda {key[10:-1].lower()} layer-ci knows",
                f"use one of {', '.join(sorted(allowed))}, or set the list in layer-ci.yml",
            )

    def draft_from_template(self, function: sam.TemplateFunction) -> _Draft:
        draft = _Draft(function.name, function.document, function.path)
        props: FieldPath = (*function.path, "Properties")
        values = {
            "source": function.source,
            "runtime": function.runtime,
            "architecture": function.architecture,
            "handler": function.handler,
            "memory": function.memory_mb,
            "timeout": function.timeout_s,
        }
        for key, value in values.items():
            if value is not None:
                draft.fields[key] = _Field(value, function.document, props)
        draft.layers = list(function.layers)
        draft.layers_path = (*props, "Layers")
        draft.layers_document = function.document
        draft.pins = [function.template]
        draft.environment = dict(function.environment)
        return draft

    def merge_config_function(
        self, drafts: dict[str, _Draft], name: str, raw: Mapping[str, Any], layers: Mapping[str, LayerSpec]
    ) -> None:
        base: FieldPath = ("functions", name)
        draft = drafts.get(name)
        if draft is None:
            draft = drafts[name] = _Draft(name, self.doc, base)
            for required in ("source", "runtime"):
                if required not in raw:
                    raise self.error(
                        base,
                        f"function '{name}' has no '{required}' and no template declares it",
                        f"add '{required}:' or list the template that declares it under templates:",
                    )
        for key in ("runtime", "architecture", "handler", "memory", "timeout"):
            if key in raw:
                draft.fields[key] = _Field(raw[key], self.doc, (*base, key))
        if "handler" in raw and (problem := handler_problem(raw["handler"], draft.get("runtime", ""))):
            raise self.error((*base, "handler"), *problem)
        if "source" in raw:
            draft.fields["source"] = _Field(
                self.folder(raw["source"], (*base, "source")), self.doc, (*base, "source")
            )
        if "test" in raw:
            draft.fields["test"] = _Field(self.argv(raw["test"], (*base, "test")), self.doc, (*base, "test"))
        if "layers" in raw:
            draft.layers = [
                self.config_layer_ref(entry, (*base, "layers", i), layers)
                for i, entry in enumerate(raw["layers"])
            ]
            draft.layers_path = (*base, "layers")
            draft.layers_document = self.doc
        for index, pin in enumerate(raw.get("pins", ())):
            self.file(self.root / pin, (*base, "pins", index), "relative to the repository root")
            if pin not in draft.pins:
                draft.pins.append(pin)
        for key, value in (raw.get("environment") or {}).items():
            draft.environment[key] = str(value).lower() if isinstance(value, bool) else str(value)

    def config_layer_ref(self, entry: str, path: FieldPath, layers: Mapping[str, LayerSpec]) -> sam.LayerRef:
        if ":" in entry:  # a full ARN (the schema checked its shape); ours if its name is one of our layers
            try:
                arn = parse_layer_version_arn(entry)
            except ValueError:  # a partition layer-ci does not know (the schema allows any): not ours
                return sam.LayerRef(entry, external=True, document=self.doc, path=path)
            if arn.layer in layers:
                return sam.LayerRef(arn.layer, external=False, document=self.doc, path=path)
            if arn.account == self.account:
                raise sam.undeclared_layer_error(self.doc, path, arn.layer, layers.keys(), self.account)
            return sam.LayerRef(entry, external=True, document=self.doc, path=path)
        if entry not in layers:
            close = difflib.get_close_matches(entry, list(layers), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.error(
                path,
                f"unknown layer '{entry}'",
                f"{hint}declare it under layers:, or give a vendor layer's full version ARN",
            )
        return sam.LayerRef(entry, external=False, document=self.doc, path=path)

    def function_spec(self, draft: _Draft, layers: Mapping[str, LayerSpec]) -> FunctionSpec:
        seen: dict[str, int] = {}
        for index, ref in enumerate(draft.layers):
            if ref.value in seen:
                raise ref.error(
                    f"layer '{ref.value}' is listed twice (also entry {seen[ref.value]})", "remove the repeat"
                )
            seen[ref.value] = index
        if len(draft.layers) > MAX_LAYERS_PER_FUNCTION:
            document = draft.layers_document or draft.document
            raise document.error(
                draft.layers_path,
                f"function '{draft.name}' uses {len(draft.layers)} layers, Lambda allows at most "
                f"{MAX_LAYERS_PER_FUNCTION}",
                f"remove {len(draft.layers) - MAX_LAYERS_PER_FUNCTION} or merge some layers",
            )
        spec = FunctionSpec(
            name=draft.name,
            source=draft.get("source"),
            runtime=draft.get("runtime"),
            architecture=draft.get("architecture", "x86_64"),
            handler=draft.get("handler", ""),
            layers=tuple(ref.value for ref in draft.layers if not ref.external),
            test_command=draft.get("test", ()),
            pin_files=tuple(draft.pins),
            memory_mb=draft.get("memory", DEFAULT_MEMORY_MB),
            timeout_s=draft.get("timeout", DEFAULT_TIMEOUT_S),
            environment=tuple(draft.environment.items()),
            location=draft.document.location(draft.path),
            external_layers=tuple(ref.value for ref in draft.layers if ref.external),
            layer_order=tuple(ref.value for ref in draft.layers),
        )
        for ref in draft.layers:
            if not ref.external:
                self.check_compatible(spec, layers[ref.value], ref, draft)
        return spec

    def check_compatible(
        self, spec: FunctionSpec, layer: LayerSpec, ref: sam.LayerRef, draft: _Draft
    ) -> None:
        problems = compatibility_problems(spec, layer)
        if not problems:
            return
        runtime_clash = bool(layer.compatible_runtimes) and spec.runtime not in layer.compatible_runtimes
        key, value, setting = (
            ("compatible_runtimes", spec.runtime, "runtime")
            if runtime_clash
            else ("compatible_architectures", spec.architecture, "architecture")
        )
        resource = self.from_template.get((layer.name, key))
        if resource is not None:
            template_key = "CompatibleRuntimes" if key == "compatible_runtimes" else "CompatibleArchitectures"
            place = resource.document.location((*resource.path, "Properties", template_key))
            where = f"{template_key} of {resource.path[-1]} ({place})"
        else:
            where = f"layers.{layer.name}.{key} (line {self.doc.line_of(('layers', layer.name, key))})"
        raise ref.error(problems[0], f"add {value} to {where} or change the function's {setting}")

    # -- shared checks ----------------------------------------------------------------------------

    def relative_fix(self, what: str) -> str:
        return f"create {what} there or fix the path (relative to {self.root})"

    def folder(self, relative: str, path: FieldPath, *, below_root: bool = False) -> Path:
        """A source folder, which must lie inside the repository (strictly below its root: ``below_root``)."""
        # Lexical normalisation, not resolve(): realpath on every folder was a quarter of a large load.
        folder = Path(os.path.normpath(os.path.join(self.root, relative)))
        if not is_inside(folder, self.root):
            raise self.error(
                path,
                f"folder '{relative}' is outside the repository ({self.root}, the folder of layer-ci.yml)",
                "move it into the repository and give its path relative to the folder of layer-ci.yml",
            )
        if (problem := containment_problem(folder, self.root, self.seen_parts)) is not None:
            raise self.error(
                path,
                f"folder '{relative}' {problem}",
                "point it at a real folder inside the repository (not a symlink leading out, not .git)",
            )
        if below_root and folder == self.root:
            raise self.error(
                path,
                "a layer's source cannot be the repository root (every file of the repository would be "
                "in the layer)",
                "move the layer's files into a folder of their own, e.g. layers/NAME, and point source at it",
            )
        if not folder.is_dir():
            problem = "is a file, not a folder" if folder.exists() else f"folder '{relative}' does not exist"
            raise self.error(path, problem, self.relative_fix("the folder"))
        return folder

    def file(self, file: Path, path: FieldPath, relative_to: str) -> None:
        """A file the run reads (requirements, pins, templates): a real file inside the repository."""
        shown_path = os.path.normpath(file)
        if not is_inside(shown_path, self.root):
            raise self.error(
                path,
                f"file '{shown_path}' is outside the repository ({self.root})",
                f"keep it inside the repository and fix the path ({relative_to})",
            )
        if (problem := containment_problem(shown_path, self.root, self.seen_parts)) is not None:
            raise self.error(
                path,
                f"file '{os.path.relpath(shown_path, self.root)}' {problem}",
                f"point it at a real file inside the repository, not a symlink leading out ({relative_to})",
            )
        if not file.is_file():
            shown = os.path.relpath(file, self.root)
            problem = "is a folder, not a file" if file.exists() else f"file '{shown}' does not exist"
            raise self.error(path, problem, f"create it or fix the path ({relative_to})")

    def argv(self, raw: str | Iterable[str], path: FieldPath) -> tuple[str, ...]:
        """An argv list as written, or a string split the way a POSIX shell would (never run by one)."""
        if not isinstance(raw, str):
            return tuple(raw)
        try:
            parts = shlex.split(raw)
        except ValueError as exc:
            raise self.error(
                path,
                f"cannot split {raw!r} into arguments ({exc})",
                "balance the quotes or write it as a list",
            ) from exc
        if not parts:
            raise self.error(path, "the command is empty", "give the program and its arguments")
        return tuple(parts)
