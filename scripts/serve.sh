#!/usr/bin/env bash
# One command for newcomers: set up, then run the hub on SQLite + ./data, seeded with a demo user and repos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Spaces run sandboxed with bubblewrap (docs/spaces.md); without it they answer CONFIG_ERROR and say why
if [ ! -x /usr/bin/bwrap ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; } ||
      echo "warning: could not install bubblewrap: Spaces will not run" >&2
  else
    echo "note: install bubblewrap (e.g. sudo apt-get install bubblewrap) to run Spaces" >&2
  fi
fi
. .venv/bin/activate
exec modelyard serve --seed --migrate "$@"
