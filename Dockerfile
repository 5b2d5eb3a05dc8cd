# The layer-ci Docker action. The base image is pinned by its full version tag so a rebuild of the same
# commit gets the same Python and Debian release.
FROM python:3.12.8-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_INSTALL_DIR=/opt/uv-python \
    UV_NO_CACHE=1

# git for bump branches; nodejs for the tests of nodejs functions.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git nodejs ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY layer_ci ./layer_ci
COPY entrypoint.py ./
# The interpreters of the other Python runtimes Lambda offers are installed now, at build time, so each
# function's tests run on its own version (3.12 is the image's) and the engine never downloads at run
# time. The workspace is mounted from the runner and owned by another uid, which git refuses without
# safe.directory.
RUN pip install . \
    && uv python install 3.9 3.10 3.11 3.13 \
    && git config --system --add safe.directory '*'

ENTRYPOINT ["python", "/app/entrypoint.py"]
