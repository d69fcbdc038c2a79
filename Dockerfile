# syntax=docker/dockerfile:1
# tokend image: one image for every role (`tokend serve [--only NAME]`, `tokend migrate`,
# `tokend worker`). Build: docker build -t tokend .   Run: docker run -p 8000:8000 tokend serve --demo

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: compilers and pip live here only -------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Wheels exist for every dependency on amd64/arm64; the compiler is here for the platforms
# where one must be built from source, and never reaches the runtime stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
# The build backend, hash-checked from its lock, in a venv of its own that stays in this stage.
COPY requirements/build.txt requirements/runtime.txt ./requirements/
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes -r requirements/build.txt
# Dependencies first (cached while only the source changes): exactly the locked versions, each
# file checked against its hash.
RUN python -m venv /opt/tokend \
 && /opt/tokend/bin/pip install --require-hashes -r requirements/runtime.txt
# Then the project: the tokend-guard and tokend wheels, built here without fetching anything and
# installed without resolving (their dependencies are the ones above).
COPY pyproject.toml README.md ./
COPY packages/guard ./packages/guard
COPY src ./src
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /build/wheels \
      ./packages/guard . \
 && /opt/tokend/bin/pip install --no-deps /build/wheels/*.whl \
 && /opt/tokend/bin/python -m compileall -q /opt/tokend/lib \
 && /opt/tokend/bin/pip uninstall -y pip setuptools wheel || true

# ---- runtime: slim base, the virtualenv, a non-root user -------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG TOKEND_UID=10001
ENV PATH=/opt/tokend/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TOKEND_SERVER__HOST=0.0.0.0 \
    TOKEND_SERVER__PORT=8000 \
    TOKEND_LOG__FORMAT=json
RUN groupadd --system --gid ${TOKEND_UID} tokend \
 && useradd --system --uid ${TOKEND_UID} --gid tokend --home-dir /var/lib/tokend \
      --shell /usr/sbin/nologin tokend \
 && mkdir -p /var/lib/tokend/var \
 && chown -R tokend:tokend /var/lib/tokend
COPY --from=build /opt/tokend /opt/tokend
# The default SQLite database (./var/tokend.db) lands in the user's own directory.
WORKDIR /var/lib/tokend
USER ${TOKEND_UID}:${TOKEND_UID}
EXPOSE 8000
# Liveness on the port this container serves (roles set TOKEND_SERVER__PORT); no curl needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('TOKEND_SERVER__PORT', '8000'), timeout=2)"]
ENTRYPOINT ["tokend"]
CMD ["serve"]
