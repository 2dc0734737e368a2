# voc-monitor in one image: the demo on the embedded SQLite store, or (docker-compose.yml) the
# scheduler and the one-shot setup against Elasticsearch + Kibana.
#
#   docker build -t voc-monitor .
#   docker run --rm voc-monitor                      # the demo (default)
#   docker run --rm -v voc-var:/app/var voc-monitor voc stats
#   docker compose up -d                             # ES + Kibana + Mailpit + scheduler (see .env.example)
#
# Settings: /app/settings.toml, or VOC_SETTINGS / VOC_<SECTION>__<KEY> with `docker run -e`.
# Secrets (VOC_SMTP_PASSWORD, VOC_ES_PASSWORD, ...) only as environment variables, never baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A CJK font, so that the alert chart (alerts/render/chart.py) is labelled in Chinese.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 voc
WORKDIR /app

# torch first, the CPU build from the PyTorch index: the default wheel pulls in ~3 GB of CUDA.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The packages, with the shipped sentiment model (nlp/model/), the ES mappings (indexer/mappings/)
# and the Kibana saved objects (indexer/kibana/) baked into the image.
COPY pyproject.toml README.md ./
COPY voc ./voc
COPY nlp ./nlp
COPY crawlers ./crawlers
COPY indexer ./indexer
COPY alerts ./alerts
RUN pip install . && rm -rf build *.egg-info \
    && python -c "import importlib.resources as r; assert r.files('nlp').joinpath('model').is_dir(); \
assert r.files('indexer').joinpath('mappings/feedback.json').is_file(); \
assert r.files('indexer').joinpath('kibana/voc-dashboard.ndjson').is_file()"

COPY settings.toml ./
COPY demo ./demo
RUN mkdir -p var && chown voc:voc var

USER voc
ENV VOC_SETTINGS=/app/settings.toml
# matplotlib's font list, built once here (as the user that reads it) and with the CJK font in it
RUN python -c "from alerts.render.chart import cjk_font; assert cjk_font(), 'no CJK font for the chart'"
VOLUME ["/app/var"]

# Healthy when settings load and the configured store (SQLite or Elasticsearch) answers a query.
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 \
    CMD voc stats --json > /dev/null || exit 1

CMD ["voc", "demo"]
