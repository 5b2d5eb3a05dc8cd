"""The default test of a custom-runtime function: invoke it with each sample event, fail on any error.

Run as ``python -m layer_ci.engine.invoke_check FUNCTION_FOLDER`` with ``LAYER_CI_INVOKE_URL`` set (the
engine does this when a ``provided.*`` function has no ``test:``). Events are ``FUNCTION_FOLDER/events/
*.json`` (SAM's layout), sorted by name; without any, one ``{}``.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

_SHOWN_CHARS = 300


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m layer_ci.engine.invoke_check FUNCTION_FOLDER", file=sys.stderr)
        return 2
    base = os.environ.get("LAYER_CI_INVOKE_URL")
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
    if not base:
        print("ERROR LAYER_CI_INVOKE_URL is not set: run this through `layer-ci test`", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    events = sorted((folder / "events").glob("*.json")) if (folder / "events").is_dir() else []
    cases: list[tuple[str, bytes]] = []
    for path in events:
        data = path.read_bytes()
        try:
            json.loads(data)
        except ValueError as exc:
            print(f"ERROR {path.relative_to(folder)}: not valid JSON ({exc}); fix the sample event")
            return 1
        cases.append((str(path.relative_to(folder)), data))
    if not cases:
        cases.append(("{} (no events/*.json)", b"{}"))
    failed = 0
    url = f"{base}/2015-03-31/functions/{name}/invocations"
    for label, data in cases:
        request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 (loopback http)
        try:
            with urllib.request.urlopen(request, timeout=None) as response:  # noqa: S310
                body = response.read().decode("utf-8", "replace")
                function_error = response.headers.get("X-Amz-Function-Error")
        except urllib.error.HTTPError as exc:
            print(f"ERROR {label}: the Invoke endpoint answered {exc.code}: {exc.read()[:_SHOWN_CHARS]!r}")
            failed += 1
            continue
        if function_error:
            failed += 1
            print(f"FAILED {label}: {_describe_error(body)}")
        else:
            shown = body if len(body) <= _SHOWN_CHARS else body[:_SHOWN_CHARS] + " [...]"
            print(f"ok {label}: {shown}")
    print(f"{len(cases) - failed} of {len(cases)} invocations answered without an error")
    return 1 if failed else 0


def _describe_error(body: str) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return body[:_SHOWN_CHARS]
    if isinstance(document, dict) and ("errorType" in document or "errorMessage" in document):
        return f"{document.get('errorType', 'Error')}: {document.get('errorMessage', '')}"[:_SHOWN_CHARS]
    return body[:_SHOWN_CHARS]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
