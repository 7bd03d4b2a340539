#!/usr/bin/env bash
# One command for newcomers: set up, then run the hub on SQLite + ./data, seeded with a demo user and repos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Spaces run sandboxed with bubblewrap (docs/spaces.md); without it they answer CONFIG_ERROR and say why.
# git serves `git clone`/`git push` of the repos (docs/git.md).
need=()
[ -x /usr/bin/bwrap ] || need+=(bubblewrap)
command -v git >/dev/null 2>&1 || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
      echo "warning: could not install ${need[*]}: Spaces or git clone will not work" >&2
  else
    echo "note: install ${need[*]} (e.g. sudo apt-get install ${need[*]}) for Spaces and git clone" >&2
  fi
fi
. .venv/bin/activate
exec modelyard serve --seed --migrate "$@"
