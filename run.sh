#!/usr/bin/env bash
# One entry point for a fresh machine: creates/refreshes .venv, then runs what you ask.
#   ./run.sh demo [demo options]   ektp-sync demo on embedded SQLite
#   ./run.sh test [pytest options] the whole test suite (SQLite, and PostgreSQL if reachable)
#   ./run.sh lint                  ruff + mypy
#   ./run.sh bench [options]       the benchmark suite (bench/)
#   ./run.sh ektp-sync …           any CLI command inside the virtualenv
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)

if [ ! -x .venv/bin/python ]; then
  echo "run.sh: creating the virtualenv .venv (first run only)" >&2
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  # the first run installs ~60 packages (about a minute); say so instead of sitting silent
  echo "run.sh: installing ektp-sync and its dependencies into .venv (pyproject.toml changed or first run) …" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --progress-bar off -e '.[dev]'
  echo "run.sh: installed." >&2
  rm -f .venv/.installed-*
  touch "$stamp"
fi

command=${1:-help}
[ $# -gt 0 ] && shift
case "$command" in
  demo)  exec .venv/bin/ektp-sync demo "$@" ;;
  test)  exec .venv/bin/python -m pytest "$@" ;;
  lint)  .venv/bin/ruff check . && .venv/bin/ruff format --check . && exec .venv/bin/mypy ;;
  bench) exec .venv/bin/python -m bench "$@" ;;
  ektp-sync) exec .venv/bin/ektp-sync "$@" ;;
  *) sed -n '2,7p' "$0" | cut -c3-; exit 2 ;;
esac
