# One image for every gumloop-mcp process: ENTRYPOINT is the `gumloop-mcp` console script and the
# command picks the process (tokens, proxy, facade, emulator, up). See deploy/README.md for why.
#
# With network:  docker build -t gumloop-mcp .                       (FROM python:3.12-slim, PyPI)
# Offline (CI):  scripts/build-image   (a debootstrapped base, a wheelhouse made on the host, --no-index)
#
# Works with the legacy builder and BuildKit alike (no RUN --mount), because the CI machines have
# only the classic builder.

ARG BASE_IMAGE=python:3.12-slim

# ---- 1. build: a wheelhouse, and /opt/venv installed from it (never from an index) -------------
FROM ${BASE_IMAGE} AS build
# PIP_NO_INDEX=1 builds only from the seed wheelhouse (.cache/wheelhouse, made on the host).
ARG PIP_NO_INDEX=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /buildenv && python3 -m venv /opt/venv
WORKDIR /src
# Dependencies first, from the lock's export alone (requirements/*.txt: exact versions with hashes,
# written from uv.lock by scripts/export-requirements), so a source change does not rebuild them.
COPY requirements/runtime.txt requirements/build.txt /requirements/
COPY pyproject.toml README.md ./
# The seed wheelhouse is optional (absent on the public path). A COPY whose only source is a wildcard
# matching nothing fails on the classic builder ("no source files were specified"), so pyproject.toml
# (always there; pip ignores it in --find-links) keeps the source list non-empty, and `.cach[e]` names
# no directory that must exist.
COPY pyproject.toml .cach[e]/wheelhous[e] /seed/
RUN /buildenv/bin/pip install --require-hashes --no-deps --only-binary=:all: --find-links /seed \
      -r /requirements/build.txt \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: --find-links /seed \
      -r /requirements/runtime.txt
COPY src ./src
COPY services ./services
# The project's wheel goes outside /opt and is installed here, so the runtime stage copies only the
# venv: no wheel (nor pip) is left in the final image.
RUN /buildenv/bin/pip wheel --no-deps --no-build-isolation --no-index -w /wheels/project . \
 && /opt/venv/bin/pip install -q --no-index --no-deps /wheels/project/*.whl \
 && /opt/venv/bin/pip uninstall -y -q pip \
 && /opt/venv/bin/python -c 'import gumloop_mcp.runtime, services'

# ---- 2. runtime: the venv and a non-root user --------------------------------------------------
# Every step that does not depend on the source comes first, and the venv comes over in ONE copy as
# the last filesystem change: the classic builder with the vfs driver copies whole filesystems per step.
FROM ${BASE_IMAGE} AS runtime
ARG UID=10001
RUN (getent group ${UID} || groupadd --system --gid ${UID} gumloop) >/dev/null \
 && useradd --system --uid ${UID} --gid ${UID} --no-create-home --home-dir /var/lib/gumloop-mcp \
      --shell /usr/sbin/nologin gumloop \
 && mkdir -p /var/lib/gumloop-mcp && chown ${UID}:${UID} /var/lib/gumloop-mcp && chmod 0700 /var/lib/gumloop-mcp
# Read-only root filesystem: bytecode is compiled at install time and never written at run time;
# state only under the data dir (mount a volume there) and /tmp (an emptyDir / tmpfs).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/gumloop-mcp \
    GMCP_TOKENS_DATA_DIR=/var/lib/gumloop-mcp \
    GMCP_PROXY_DATA_DIR=/var/lib/gumloop-mcp
VOLUME ["/var/lib/gumloop-mcp", "/tmp"]
WORKDIR /var/lib/gumloop-mcp
EXPOSE 8080 8081 50051 50052 8090
ENTRYPOINT ["gumloop-mcp"]
CMD ["--help"]
COPY --from=build /opt/venv /opt/venv
USER ${UID}:${UID}
# OCI annotations (org.opencontainers.image.*). scripts/build-image sets the arguments: the version
# from pyproject.toml, the git commit (with "-dirty" for uncommitted changes), its commit time as
# `created` (so an unchanged tree rebuilds to the same image), and the source repository. Labels are
# metadata only and come last, so a new commit changes no filesystem layer.
ARG VERSION=0.1.0
ARG REVISION=
ARG CREATED=
ARG SOURCE=https://github.com/gumloop-mcp/gumloop-mcp
LABEL org.opencontainers.image.title="gumloop-mcp" \
      org.opencontainers.image.description="Safe, scoped and reliable control of Gumloop for AI agents, over the Model Context Protocol: the MCP façade, the token service, the Gumloop proxy and the emulator in one image." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"
