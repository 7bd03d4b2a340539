#!/usr/bin/env bash
# One command for newcomers: set up, then run the hub on SQLite + ./data, seeded with a demo user and repos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec modelyard serve --seed --migrate "$@"
