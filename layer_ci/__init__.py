"""layer-ci: make AWS Lambda layers safe to change."""

__version__ = "0.1.0"
