"""Stage 2, plan: Config and layer-ci.lock in; input keys and the layers to build or publish out."""
