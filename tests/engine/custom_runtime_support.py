"""Custom runtimes for the tests: a Python-script bootstrap and a bash one (no curl: /dev/tcp), as layers."""

from __future__ import annotations

from pathlib import Path

from layer_ci.model import Architecture, Config, FunctionSpec, LayerSpec
from tests.engine.engine_support import HOST_ARCH, Entry, file, layer_spec, make_config, write_zip

RUNTIME = "provided.al2023"

# A small but complete runtime interface client: loads `file.function` from LAMBDA_TASK_ROOT, reports
# import failures to /init/error, then loops on /next, answering /response or /error.
PYTHON_BOOTSTRAP = r"""#!/usr/bin/env python3
import importlib.util
import json
import os
import sys
import traceback
import urllib.request

BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
ERROR_TYPE = os.environ.get("RUNTIME_ERROR_TYPE", "Function.Unhandled")


def post(path, document, headers=None):
    request = urllib.request.Request(
        BASE + path, data=json.dumps(document).encode(), method="POST", headers=headers or {}
    )
    with urllib.request.urlopen(request) as response:
        return response.status


def error_document(exc):
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
try:
    path = os.path.join(os.environ["LAMBDA_TASK_ROOT"], module_name + ".py")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, function_name)
except Exception as exc:
    kind = {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"}
    post("/init/error", error_document(exc), kind)
    sys.exit(1)

print("runtime ready", flush=True)
while True:
    with urllib.request.urlopen(BASE + "/invocation/next") as response:
        headers = dict(response.headers.items())
        event = json.loads(response.read())
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    try:
        result = handler(event, headers)
    except Exception as exc:
        kind = {"Lambda-Runtime-Function-Error-Type": ERROR_TYPE}
        post(f"/invocation/{request_id}/error", error_document(exc), kind)
        continue
    post(f"/invocation/{request_id}/response", result)
"""

PYTHON_HANDLER = r"""
import json
import os
import threading
import time
import uuid

# Process ids say nothing inside a PID namespace (every environment's runtime has the same low pid):
# a random id per cold start tells environments apart in every sandbox mode.
COLD = {"boot": uuid.uuid4().hex}


def _beat(path):
    while True:  # proof of life for a test that checks the process is gone after a kill
        with open(path, "a") as handle:
            handle.write(".")
        time.sleep(0.05)


def handler(event, headers):
    if event.get("fail"):
        raise ValueError("bad input: " + event["fail"])
    if event.get("sleep"):
        if os.environ.get("BEATFILE"):
            threading.Thread(target=_beat, args=(os.environ["BEATFILE"],), daemon=True).start()
        time.sleep(event["sleep"])
    if event.get("exit") is not None:
        os._exit(event["exit"])
    return {
        "echo": event,
        "headers": {k: v for k, v in headers.items() if k.startswith("Lambda-Runtime-")},
        "now_ms": int(time.time() * 1000),
        "boot": COLD["boot"],
        "cwd": os.getcwd(),
        "env": {
            name: os.environ.get(name)
            for name in (
                "_HANDLER",
                "LAMBDA_TASK_ROOT",
                "AWS_LAMBDA_RUNTIME_API",
                "AWS_EXECUTION_ENV",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_REGION",
                "GITHUB_TOKEN",
                "AWS_SECRET_ACCESS_KEY",
                "LAYER_CI_INVOKE_URL",
            )
        },
    }
"""

# Bash only: HTTP/1.1 over /dev/tcp, one connection per call (`Connection: close`), no curl.
SHELL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail
export LC_ALL=C  # ${#body} counts bytes
HOST=${AWS_LAMBDA_RUNTIME_API%:*}
PORT=${AWS_LAMBDA_RUNTIME_API##*:}

call() {  # METHOD PATH [BODY] [EXTRA HEADER LINE] -> STATUS, REQUEST_ID, BODY
  local method=$1 path=$2 body=${3-} extra=${4-} line
  exec 3<>"/dev/tcp/$HOST/$PORT"
  printf '%s /2018-06-01/runtime%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n' \
    "$method" "$path" "$AWS_LAMBDA_RUNTIME_API" "${#body}" >&3
  printf '%sConnection: close\r\n\r\n%s' "$extra" "$body" >&3
  IFS=' ' read -r _ STATUS _ <&3
  REQUEST_ID=
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in
      lambda-runtime-aws-request-id:*) REQUEST_ID=${line#*: } ;;
    esac
  done
  BODY=$(cat <&3)
  exec 3<&-
}

source "$LAMBDA_TASK_ROOT/${_HANDLER%%.*}.sh"
FUNCTION=${_HANDLER#*.}
echo "shell runtime up"
while true; do
  call GET /invocation/next
  EVENT=$BODY
  if RESULT=$("$FUNCTION" "$EVENT" 2>&1); then
    call POST "/invocation/$REQUEST_ID/response" "$RESULT"
  else
    call POST "/invocation/$REQUEST_ID/error" \
      "{\"errorMessage\": \"$RESULT\", \"errorType\": \"HandlerFailed\"}" \
      $'Lambda-Runtime-Function-Error-Type: Unhandled\r\n'
  fi
done
"""

SHELL_HANDLER = r"""
handler() {
  case "$1" in
    *'"fail"'*) echo "the shell handler refused it"; return 1 ;;
  esac
  printf '{"shell": true, "event": %s, "handler": "%s"}' "$1" "$_HANDLER"
}
"""


def runtime_layer(root: Path, name: str = "runtime") -> LayerSpec:
    return layer_spec(root, name, runtimes=("provided.al2023", "provided.al2"))


def runtime_zip(path: Path, bootstrap: str, *, mode: int = 0o755, extra: tuple[Entry, ...] = ()) -> Path:
    return write_zip(path, [file("bootstrap", bootstrap, mode), *extra])


def custom_function(
    root: Path,
    name: str,
    files: dict[str, str],
    *,
    handler: str = "app.handler",
    test: tuple[str, ...] = (),
    timeout_s: int = 3,
    environment: tuple[tuple[str, str], ...] = (),
    architecture: Architecture = HOST_ARCH,
    modes: dict[str, int] | None = None,
) -> FunctionSpec:
    source = root / "functions" / name
    source.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = source / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if modes and relative in modes:
            path.chmod(modes[relative])
    return FunctionSpec(
        name=name,
        source=source,
        runtime=RUNTIME,
        architecture=architecture,
        handler=handler,
        layers=("runtime",),
        test_command=test,
        timeout_s=timeout_s,
        environment=environment,
    )


def custom_config(root: Path, *functions: FunctionSpec) -> Config:
    return make_config(root, [runtime_layer(root)], functions)
