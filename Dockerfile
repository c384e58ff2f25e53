# CPU image: `voicechat serve` on 0.0.0.0:8000 with the bundled offline models, as a non-root user.
#   docker build -t voicechat .
#   docker run -p 8000:8000 -v voicechat-data:/data voicechat
# With no VOICECHAT_TOKENS an access token is made at first start, kept in /data/data/access-token, and the
# page URL carrying it is printed in the log (`docker logs`). tests/test_docker.py runs this file's CMD with
# its ENV, without Docker. A CUDA variant is described in docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: compiles llama.cpp (llama-cpp-python) and installs the package into a venv -----------------
FROM ${PYTHON_IMAGE} AS builder
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
# A portable AVX2 build (-march=native would tie the image to the build machine's CPU).
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY voicechat ./voicechat
# Versions come from pyproject.toml (bundled models are pinned exactly there).
# hadolint ignore=DL3013
RUN /opt/venv/bin/pip install .

# --- runtime: no compiler; the libraries the compiled code and the fallback voice need ------------------
FROM ${PYTHON_IMAGE}
# libgomp1: llama.cpp's OpenMP runtime; espeak-ng: the last-resort voice.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 espeak-ng \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VOICECHAT_HOME=/data \
    VOICECHAT_MODELS_DIR=/opt/voicechat/models \
    VOICECHAT_HOST=0.0.0.0 \
    VOICECHAT_PORT=8000
# Models are assembled now, into the image, so the first start is fast and the volume holds only data
# (the end-of-turn model is one file out of the pinned pipecat-ai wheel, hashes checked).
RUN python -m voicechat.smart_turn \
 && voicechat prepare \
 && groupadd --system --gid 10001 voicechat \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin voicechat \
 && mkdir -p /data && chown 10001:10001 /data
# Numeric, so an orchestrator can tell it is not root (runAsNonRoot).
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD ["voicechat", "health"]
CMD ["voicechat", "serve"]
