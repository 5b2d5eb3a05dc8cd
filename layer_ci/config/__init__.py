"""Loading and checking layer-ci.yml (and the SAM/CloudFormation templates it names)."""

from layer_ci.config.loader import load_config

__all__ = ["load_config"]
