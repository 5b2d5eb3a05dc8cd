"""The Docker action's entry point: everything lives in layer_ci.action.main."""

from __future__ import annotations

import sys

from layer_ci.action.main import main

if __name__ == "__main__":
    sys.exit(main())
