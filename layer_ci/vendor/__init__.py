"""Vendor layers: other accounts' pinned layers in; their newest allowed versions, fetched, out."""
