# One image for every Python process of the platform (the registry, the nine services, the storefront and
# the one-shot jobs); compose.yaml says which one a container runs. Built from uv.lock, as `make setup` does.

# The front-end libraries the sites serve themselves (sites/package-lock.json), as tools/setup.sh installs them.
FROM node:22-bookworm-slim AS web
WORKDIR /sites
COPY sites/package.json sites/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# The locked dependencies first, in a layer of their own that a change of our code does not rebuild.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
# Then the project itself (editable: its .pth puts /app and /app/gen on sys.path) and the generated code,
# as `make gen` makes it.
RUN uv sync --frozen --no-dev \
    && .venv/bin/python -m tools.gen \
    && .venv/bin/python -m compileall -q gen registry services sites tools

FROM python:3.11-slim-bookworm
RUN useradd --system --user-group --uid 10001 --home-dir /app --no-create-home shop
WORKDIR /app
COPY --from=build /app /app
COPY --from=web /sites/node_modules /app/sites/node_modules
# The only folders written at run time: the demo shop's pictures (a volume shared by demo-data and the storefront),
# and the signing keys each service makes at its first start (a volume shared by the services; docs/security.md).
RUN install -d -o shop -g shop /app/sites/static/products /app/.cache/shop-platform/keys
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER shop
