"""The managed runtimes Lambda accepts: the one table, and a runtime name split into family and version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RuntimeFamily = Literal["python", "nodejs", "other"]


# Names Lambda reserves: a function's configuration may not set them (CreateFunction refuses them).
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


@dataclass(frozen=True)
class LambdaRuntime:
    """One managed runtime Lambda accepts: its family, language version, and whether the image ships it.

    ``in_image`` marks the runtimes whose interpreter the Action's image carries (Dockerfile,
    image/install_runtimes.py reads this table); the others are accepted in configs but tested only
    where the developer has the interpreter.
    """

    name: str
    family: RuntimeFamily
    version: tuple[int, ...] = ()
    in_image: bool = False


# Every managed runtime Lambda accepts for new functions and layer versions: the one table. The config
# schema's runtime enum, limits.LAMBDA_RUNTIMES and the interpreters installed in the Action's image all
# follow it (tests keep the schema and the image's pins in step). When Lambda adds a runtime, add a row
# here (and, for a Node.js major, a pin under image/node/). Deprecated ones (python3.8, nodejs16.x) are
# left out on purpose: nothing new should target them.
RUNTIME_TABLE: tuple[LambdaRuntime, ...] = (
    LambdaRuntime("python3.9", "python", (3, 9), in_image=True),
    LambdaRuntime("python3.10", "python", (3, 10), in_image=True),
    LambdaRuntime("python3.11", "python", (3, 11), in_image=True),
    LambdaRuntime("python3.12", "python", (3, 12), in_image=True),
    LambdaRuntime("python3.13", "python", (3, 13), in_image=True),
    LambdaRuntime("python3.14", "python", (3, 14), in_image=True),
    LambdaRuntime("nodejs18.x", "nodejs", (18,)),
    LambdaRuntime("nodejs20.x", "nodejs", (20,), in_image=True),
    LambdaRuntime("nodejs22.x", "nodejs", (22,), in_image=True),
    LambdaRuntime("nodejs24.x", "nodejs", (24,), in_image=True),
    LambdaRuntime("java8.al2", "other"),
    LambdaRuntime("java11", "other"),
    LambdaRuntime("java17", "other"),
    LambdaRuntime("java21", "other"),
    LambdaRuntime("java25", "other"),
    LambdaRuntime("ruby3.2", "other"),
    LambdaRuntime("ruby3.3", "other"),
    LambdaRuntime("ruby3.4", "other"),
    LambdaRuntime("dotnet8", "other"),
    LambdaRuntime("dotnet10", "other"),
    LambdaRuntime("provided.al2", "other"),
    LambdaRuntime("provided.al2023", "other"),
)


RUNTIME_NAMES: tuple[str, ...] = tuple(row.name for row in RUNTIME_TABLE)


def image_runtimes(family: RuntimeFamily) -> tuple[LambdaRuntime, ...]:
    """The runtimes of ``family`` whose interpreter the Action's image ships, oldest first."""
    return tuple(row for row in RUNTIME_TABLE if row.family == family and row.in_image)


@dataclass(frozen=True)
class Runtime:
    """A Lambda runtime identifier split into what matters here: family and language version."""

    name: str
    family: RuntimeFamily
    version: tuple[int, ...] = ()

    @property
    def wanted(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def execution_env(self) -> str:
        return f"AWS_Lambda_{self.name}"


def parse_runtime(name: str) -> Runtime:
    """``python3.11`` -> (python, (3, 11)); ``nodejs20.x`` -> (nodejs, (20,)); anything else -> other."""
    python = re.fullmatch(r"python(\d+)\.(\d+)", name)
    if python:
        return Runtime(name, "python", (int(python[1]), int(python[2])))
    node = re.fullmatch(r"nodejs(\d+)\.x", name)
    if node:
        return Runtime(name, "nodejs", (int(node[1]),))
    return Runtime(name, "other")
