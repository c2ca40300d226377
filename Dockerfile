# syntax=docker/dockerfile:1
# taskmill: one image for the operator and the provider agent.
#
#   docker build -t taskmill:dev .
#   docker run --rm taskmill:dev                                  # the operator (default)
#   docker run --rm taskmill:dev taskmill.provider --capability demo.echo --command cat
#
# The entrypoint is `python -m` under tini, the argument the module to run: always a
# module of the installed wheel, never a file path (operator/ is not a package on its
# own; see DESIGN §1). tini is PID 1 so that processes a task's command leaves behind,
# re-parented to PID 1, are reaped: python as PID 1 waits only for its own children,
# and every orphan would stay a zombie. The chart starts providers under it too.
# Kubernetes probes check health, so there is no HEALTHCHECK.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: turn the source tree into a wheel, and the wheel into a venv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Only what the wheel is built from, so edits to tests or docs do not bust the cache.
COPY pyproject.toml README.md ./
# The dependencies in a layer of their own, read from pyproject.toml: an edit to the
# sources then rebuilds only the wheel, not every dependency (CI builds the image from a
# changed tree on every run).
RUN python -m venv /opt/taskmill \
 && python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' >/tmp/requirements.txt \
 && /opt/taskmill/bin/pip install -r /tmp/requirements.txt
COPY taskmill/ taskmill/
COPY operator/ operator/
COPY provider/ provider/
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/taskmill/bin/pip install --no-deps /wheels/taskmill-*.whl

# ---- runtime: the base image plus the venv; no sources, no wheels, no compilers ----
# pip stays in the venv so that provider images built FROM this one can add packages.
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="taskmill" \
      org.opencontainers.image.description="Kubernetes-native batch jobs: operator and provider agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/taskmill/taskmill"
# Only the init: no compilers, nothing else from the package archive.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 taskmill \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin taskmill
# The venv lives at the same path as in the build stage: its scripts name it absolutely.
COPY --from=build /opt/taskmill /opt/taskmill
ENV PATH=/opt/taskmill/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it without resolving names.
USER 10001:10001
ENTRYPOINT ["tini", "--", "python", "-m"]
CMD ["taskmill.operator", "--all-namespaces"]
