#!/usr/bin/env bash
# Static gates: ruff (lint + format) and import layering.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
ruff check src tests bench
ruff format --check src tests bench
lint-imports
mypy
