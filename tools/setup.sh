#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine, and nothing twice:
# system packages (Java 17, Maven, docker-compose, npm, Chromium) if missing, uv, the locked virtualenv,
# the Kafka jars.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get update runs once, before the first package this machine lacks.
apt_updated=
apt_install() {
  echo "setup: apt-get install $*"
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
[ ${#need_apt[@]} -eq 0 ] || apt_install "${need_apt[@]}"
# Debian's docker-compose validates compose.yaml (tests/foundation/test_compose.py); no Docker engine needed,
# so not the engine it recommends.
command -v docker-compose >/dev/null 2>&1 || apt_install --no-install-recommends docker-compose

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
  apt_install "${missing[@]}"
fi
(cd sites && npm ci --no-audit --no-fund --silent)
