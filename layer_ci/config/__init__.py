"""Stage 1, config: layer-ci.yml and the templates it names in; a validated, frozen Config out."""
