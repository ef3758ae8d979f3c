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

FROM ${BASE_IMAGE} AS builder
# Pinned so both build paths install the same tool; match the uv that wrote uv.lock.
ARG UV_VERSION=0.13.9
# Empty: install from PyPI. A path (/wheelhouse): install only from image/wheelhouse, offline.
ARG WHEELHOUSE=
COPY image/install.sh /usr/local/bin/cwmb-install
COPY image/wheelhouse/ /wheelhouse/
COPY pyproject.toml uv.lock /src/
# Dependencies first: this layer is reused until uv.lock or the wheelhouse changes.
RUN cwmb-install deps
COPY . /src/
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
COPY --from=builder /opt/venv /opt/venv
WORKDIR /opt/cwmb
USER 10001:10001
CMD ["cwmb", "--help"]
