# Pagerbot: one small image; configuration (rules/, runbooks/) is mounted or baked on top.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /srv pagerbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /srv
COPY --chown=pagerbot rules ./rules
COPY --chown=pagerbot runbooks ./runbooks
RUN mkdir -p /data && chown pagerbot /data
USER pagerbot
ENV PAGERBOT_HOST=0.0.0.0 \
    PAGERBOT_PORT=8080 \
    PAGERBOT_CONFIG_DIR=/srv \
    PAGERBOT_DATABASE_URL=sqlite:////data/pagerbot.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
# The image listens on 0.0.0.0, so it refuses to start without PAGERBOT_WEBHOOK_TOKEN.
ENTRYPOINT ["pagerbot"]
CMD ["serve"]
