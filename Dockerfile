FROM python:3.11-slim-bookworm
WORKDIR /opt/shouwang
COPY pyproject.toml README.md ./
COPY core core
COPY collectors collectors
COPY detectors detectors
COPY alerting alerting
COPY backup backup
COPY crypto crypto
COPY playbooks playbooks
COPY drills drills
COPY compliance compliance
COPY storage storage
COPY api api
COPY cli cli
COPY config config
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/shouwang shouwang \
    && mkdir -p /var/lib/shouwang && chown shouwang /var/lib/shouwang
USER shouwang
WORKDIR /var/lib/shouwang
EXPOSE 8700 5514/udp 5514/tcp
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/healthz', timeout=3)"
CMD ["shouwang", "run"]
