"""Adapters: the only modules calling external services (AWS, GitHub, git); passed in so tests swap them."""
