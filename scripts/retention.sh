#!/usr/bin/env bash
# Cron: apply the retention policy across every store (`jarvis retention`) and keep the
# coming months' partitions in place. One log line per run with duration and counts.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
started=$(date +%s)
report=$("$ROOT/scripts/jarvis" retention --json 2>&1) && "$ROOT/scripts/jarvis" partitions >/dev/null 2>&1
status=$?
seconds=$(( $(date +%s) - started ))
if [ "$status" -eq 0 ]; then
  counts=$(printf '%s' "$report" | tail -n 1 | python3 -c '
import json, sys
r = json.load(sys.stdin)
parts = ["%s=%d" % (k.split(" (")[0].replace(" ", "_").replace("->", "to"), v) for k, v in r["counts"].items() if v]
print(" ".join(parts + ["dropped_partitions=%d" % len(r["dropped_partitions"])]))')
  echo "$(date -u +%FT%TZ) jarvis-retention ok seconds=$seconds $counts"
else
  echo "$(date -u +%FT%TZ) jarvis-retention FAILED seconds=$seconds status=$status: $(printf '%s' "$report" | tail -n 1)"
fi
exit "$status"
