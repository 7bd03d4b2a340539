#!/usr/bin/env bash
# One command to run the tests: set up, then lint gates and pytest (all tiers, real servers, real clients).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bash scripts/check.sh
rc=0
python -m pytest "$@" || rc=$?
# issue 17: the API, end-to-end and security tests again with every hub on PostgreSQL (a throw-away cluster from
# the Debian package, one database per hub: tests/_postgres.py). tests/db (the migrations both ways, two replicas)
# runs on PostgreSQL in the first pass already; its switch test checks that this pass really is on PostgreSQL.
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pg_skip=(  # about a minute of storage, memory and disk-full checks in which nothing depends on the database
    --deselect tests/e2e/test_xet_hub.py::test_xet_300mb_dedupe_and_lfs_side_by_side
    --deselect tests/e2e/test_upload_memory.py::test_upload_memory_does_not_grow_with_file_size
    --ignore tests/security/test_disk_full.py --ignore tests/security/test_download_memory.py
  )
  # the fuzzer's random phases with half the examples (its boundary-value phase runs in full): ~1 min less
  MODELYARD_TEST_DB=postgres FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-4}" \
    python -m pytest tests/db/test_test_db_switch.py tests/api tests/e2e tests/security "${pg_skip[@]}" "$@" || rc=$?
else
  echo "warning: PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL pass is skipped" >&2
fi
exit "$rc"
