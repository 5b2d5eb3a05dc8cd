"""Registers the shared fixture plugins under tests/support/."""

pytest_plugins = [
    "tests.support.repos",
    "tests.support.aws",
    "tests.support.github_standin",
    "tests.support.git_remote",
    "tests.support.engine_cache",
    "tests.support.users",
]
