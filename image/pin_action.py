"""Point action.yml's ``runs.image`` at a pushed image by digest (the release workflow's last step).

``python3 image/pin_action.py --image ghcr.io/OWNER/layer-ci --version 1.2.3 --digest sha256:... action.yml``
rewrites the one ``image:`` line under ``runs:`` to ``docker://IMAGE:VERSION@DIGEST`` and leaves every
other byte of the file alone. Standard library only: it runs on the release runner's system Python.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

IMAGE = re.compile(
    r"(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
)
VERSION = re.compile(r"\d+\.\d+\.\d+")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
RUNS_IMAGE = re.compile(r"(?m)^(  image: ).*$")


def pin(text: str, image: str, version: str, digest: str) -> str:
    """``text`` with its ``runs.image`` naming ``image:version@digest``; ValueError on anything odd."""
    for what, value, pattern in (
        ("image", image, IMAGE),
        ("version", version, VERSION),
        ("digest", digest, DIGEST),
    ):
        if not pattern.fullmatch(value):
            raise ValueError(f"{what} {value!r} is not valid (expected {pattern.pattern})")
    runs = text.find("\nruns:\n")
    if runs < 0:
        raise ValueError("action.yml has no top-level runs: block")
    head, body = text[: runs + 7], text[runs + 7 :]
    if len(RUNS_IMAGE.findall(body)) != 1:
        raise ValueError("action.yml's runs: block must have exactly one `  image:` line")
    return head + RUNS_IMAGE.sub(lambda m: f"{m[1]}docker://{image}:{version}@{digest}", body, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("action", type=Path)
    args = parser.parse_args()
    try:
        args.action.write_text(pin(args.action.read_text(), args.image, args.version, args.digest))
    except (OSError, ValueError) as exc:
        print(f"pin_action: {args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.action}: runs docker://{args.image}:{args.version}@{args.digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
