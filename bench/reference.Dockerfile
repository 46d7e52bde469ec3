# Reference: the multistage.Dockerfile of astral-sh/uv-docker-example (uv image builder,
# python slim runtime, /app copied whole), adapted only to build this benchmark's service:
# Python 3.13 on trixie like the template's default, and the service's own start command
# (the example runs `fastapi run`, which needs fastapi[standard]; the service has a script)
# on every interface (HOST=0.0.0.0), where the port is published.
FROM ghcr.io/astral-sh/uv:python3.13-trixie-slim AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy

# Use the image's interpreter, which the runtime image has at the same path.
ENV UV_PYTHON_DOWNLOADS=0

WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-install-project --no-dev
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev

# The runtime image must match the builder's interpreter path.
FROM python:3.13-slim-trixie

RUN groupadd --system --gid 999 nonroot \
 && useradd --system --gid 999 --uid 999 --create-home nonroot

COPY --from=builder --chown=nonroot:nonroot /app /app
# The service listens on loopback unless HOST says otherwise, as the template's image sets it.
ENV PATH="/app/.venv/bin:$PATH" HOST=0.0.0.0
USER nonroot

# bench/run.py renders the template's defaults: project "My Service", script my-service.
CMD ["my-service"]
