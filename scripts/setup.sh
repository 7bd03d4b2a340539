#!/usr/bin/env bash
# Create .venv and install ModelYard with everything the server, the tests and the benches need.
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade "pip>=25.1"
# torch: exactly this version (a CPU wheel is available locally; any other spec pulls CUDA builds)
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[torch,postgres,s3,ray]" --group dev
