# syntax=docker/dockerfile:1
# The layer-ci Action's image: layer-ci plus one interpreter per Lambda runtime it tests (Python 3.9-3.14,
# Node.js 20/22/24; layer_ci/lambda_spec/runtimes.py's table says which). The release workflow builds it for
# linux/amd64 and linux/arm64 and action.yml runs the pushed image by digest; this file stays its source.
#
# The base is pinned by digest (the multi-arch index of python:3.12.8-slim-bookworm). BASE_IMAGE swaps
# it for any Debian bookworm image that has python3 and python3-venv: `make image-check` builds on one
# made by mmdebstrap from Debian packages when the registry that serves the pinned base is out of reach.
ARG BASE_IMAGE=docker.io/library/python:3.12.8-slim-bookworm@sha256:2199a62885a12290dc9c5be3ca0681d367576ab7bf037da120e564723292a2f0
FROM ${BASE_IMAGE}

# download: uv fetches the Python interpreters the base lacks (a release build must have them all);
# skip: leave them out and say so in /usr/local/lib/layer-ci/runtimes.json (for builds that cannot reach
# the interpreters' download site; the image then tests only the runtimes it has).
ARG PYTHON_DOWNLOADS=download

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_INSTALL_DIR=/usr/local/lib/layer-ci/python \
    UV_PYTHON_DOWNLOADS=never

# git for bump branches; util-linux for unshare/setpriv (the test sandbox). layer-ci (uid 10001) is the
# unprivileged user a function's tests and builds drop to, so they cannot read the entry point's secrets.
# layer-ci-cache (uid 10002) alone writes the installer's lasting wheel cache: uv runs as it only where
# it runs no code of the requirements' (sandbox.cache_keeper), so nothing of layer-ci's user can poison it.
# The workspace is mounted from the runner at /github/workspace, owned by another uid: git trusts exactly
# that path (never '*', which would let a repository nested in a fork's files configure git).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git ca-certificates util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin layer-ci \
    && useradd --uid 10002 --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin layer-ci-cache \
    && git config --system --add safe.directory /github/workspace \
    && python3 -m venv /usr/local/lib/layer-ci/venv

# Nothing lives under /opt or /var/task: the engine mounts a function's layers and code there.
COPY image/install_runtimes.py image/node/ /usr/local/lib/layer-ci/build/
RUN --mount=type=secret,id=ca-bundle \
    /usr/local/lib/layer-ci/venv/bin/python /usr/local/lib/layer-ci/build/install_runtimes.py \
        node /usr/local/lib/layer-ci/build

# pytest is the runner the engine links into each Python runtime's home for a function's tests; 8.x
# is the last series that still runs on Python 3.9 (python3.9 is a Lambda runtime).
WORKDIR /app
COPY pyproject.toml README.md entrypoint.py ./
COPY layer_ci ./layer_ci
RUN --mount=type=secret,id=ca-bundle \
    if [ -f /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && /usr/local/lib/layer-ci/venv/bin/pip install --quiet /app 'pytest>=8.3,<9' \
    && ln -s /usr/local/lib/layer-ci/venv/bin/layer-ci /usr/local/bin/layer-ci \
    && UV_PYTHON_DOWNLOADS=automatic UV_NO_CACHE=1 /usr/local/lib/layer-ci/venv/bin/python \
        /usr/local/lib/layer-ci/build/install_runtimes.py python --downloads "${PYTHON_DOWNLOADS}"

# This container is layer-ci's own: its (empty) /opt and /var/task may be replaced by links to a run's
# layers and function code (layer_ci/adapters/sandbox.py), so absolute /opt paths work without the
# namespaces Docker's default seccomp profile refuses; the code itself runs as the layer-ci user.
ENV LAYER_CI_OWN_CONTAINER=1

ENTRYPOINT ["/usr/local/lib/layer-ci/venv/bin/python", "/app/entrypoint.py"]
