"""Stage 8, bump: releases and gated pin edits in; bot commits, leased pushes, bump pull requests out."""
