# Floor: the single-stage build seed 003 describes (build tools left in, uv from pip,
# dev dependencies included, root user), adapted only so it builds this service: the
# project is installed after its sources are copied, its script is on PATH and it listens
# on every interface (HOST=0.0.0.0; the service defaults to loopback).
FROM python:3.13-slim-trixie

RUN apt-get update && apt-get install -y build-essential
RUN python -m pip install uv

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-install-project
COPY . .
RUN uv sync --frozen

ENV PATH="/app/.venv/bin:$PATH" HOST=0.0.0.0
# bench/run.py renders the template's defaults: project "My Service", script my-service.
CMD ["my-service"]
