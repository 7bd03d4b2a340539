#!/usr/bin/env bash
# One command to run the tests: set up, then lint gates and pytest (all tiers, real servers, real clients).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bash scripts/check.sh
python -m pytest "$@"
