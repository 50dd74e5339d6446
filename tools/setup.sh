#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine, and nothing twice:
# system packages (Java 17, Maven) if missing, uv, the locked virtualenv, the Kafka jars.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
  echo "setup: installing uv"
  "$PYTHON" -m pip install -q --disable-pip-version-check uv
fi
"$PYTHON" -m uv sync --frozen --quiet --python "$PYTHON"
.venv/bin/python -m tools.kafka fetch >/dev/null

# The sites' front-end libraries (htmx and its SSE extension), pinned in sites/package-lock.json and
# served by the sites themselves; and Debian's Chromium for the sites' browser tests (never a
# downloaded browser build).
if ! command -v npm >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  missing=()
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  echo "setup: installing ${missing[*]} with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
(cd sites && npm ci --no-audit --no-fund --silent)
