"""The flows (push, pull request, dispatch, schedule) calling the stages in order, for CLI and Action."""
