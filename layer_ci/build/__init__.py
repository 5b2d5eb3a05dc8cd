"""Stage 3, build: a layer's spec and sources in; a deterministic zip and its manifest out."""
