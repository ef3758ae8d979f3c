# The CWMB project image: cwmb, the runners and every runtime dependency (not the optional
# `local` extra: the embedded LLM runs on the host), run as the unprivileged user `cwmb`.
#
# Connected machine:   docker build -t cwmb .
# Registry-less build: make image  (image/build-image.sh: a debootstrap base image and a
#                      wheelhouse downloaded on the host, passed in through the two ARGs below)
#
# Works with the classic builder and with BuildKit (no BuildKit-only syntax).

# Any Debian-like image with python3.11 and python3-venv.
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: the locked runtime dependencies in /opt/venv. Rebuilt only when uv.lock, the
# wheelhouse or the install script change.
FROM ${BASE_IMAGE} AS deps
# Pinned so both build paths install the same tool; match the uv that wrote uv.lock.
ARG UV_VERSION=0.13.9
# Empty: install from PyPI. A path (/wheelhouse): install only from image/wheelhouse, offline.
ARG WHEELHOUSE=
COPY image/install.sh /usr/local/bin/cwmb-install
COPY image/wheelhouse/ /wheelhouse/
COPY pyproject.toml uv.lock /src/
RUN cwmb-install deps

# Stage 2: cwmb, runners and analysis, installed into /opt/project laid out like /opt/venv, so
# that a code change rebuilds only this small tree and not the copy of the dependencies.
FROM deps AS project
# ARGs are per stage: declare it again (its value comes from the same --build-arg).
ARG WHEELHOUSE=
COPY cwmb /src/cwmb
COPY runners /src/runners
COPY analysis /src/analysis
RUN cwmb-install project

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="cwmb" \
      org.opencontainers.image.description="Code World Models Benchmark: sandboxed evaluation of LLM-written world models"
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
# A fixed uid so the host can grant it the output folder; no setuid/setgid programs left to abuse.
RUN groupadd --gid 10001 cwmb \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin cwmb \
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
 && rm -rf /root/.cache /tmp/* /var/tmp/*
COPY --from=deps /opt/venv /opt/venv
COPY --from=project /opt/project/ /opt/venv/
# What a program's sandbox container sees besides the standard library: numpy and the worker's
# modules, copied out of /opt/venv (which its container covers; see cwmb/sandbox/program_view.py).
RUN /opt/venv/bin/python -I -m cwmb.sandbox.program_view /opt/cwmb-program \
 && /opt/venv/bin/python -m compileall -q /opt/cwmb-program/cwmb
WORKDIR /opt/cwmb
USER 10001:10001
CMD ["cwmb", "--help"]
