# CPU image: python server.py on 0.0.0.0:8000 with the bundled offline models.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng build-essential cmake \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md server.py ./
COPY voicechat ./voicechat
COPY scripts ./scripts
COPY models/README.md ./models/README.md

ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    PIP_NO_CACHE_DIR=1 \
    VOICECHAT_MODELS_DIR=/data/models
RUN pip install . \
 && apt-get purge -y build-essential cmake && apt-get autoremove -y \
 && mkdir -p /data/models \
 && useradd --system --home /data voicechat && chown -R voicechat /data

USER voicechat
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["python", "/app/server.py", "--host", "0.0.0.0", "--port", "8000"]
