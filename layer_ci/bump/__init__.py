"""`layer-ci bump`: pull requests moving layer pins to newly published versions, gated by consumers' tests."""

from layer_ci.bump.pipeline import BumpOptions, BumpOutcome, PrOutcome, bump_layers
from layer_ci.bump.releases import BRANCH_PREFIX, PER_PUSH_BRANCH, LayerRelease, branch_for, find_releases

__all__ = [
    "BRANCH_PREFIX",
    "PER_PUSH_BRANCH",
    "BumpOptions",
    "BumpOutcome",
    "LayerRelease",
    "PrOutcome",
    "branch_for",
    "bump_layers",
    "find_releases",
]
