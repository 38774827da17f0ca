#!/usr/bin/env bash
# Cron: back up all five stores (the seed's backup_databases.sh, now `jarvis backup`).
#   BACKUP_DIR   where backups go (default /backup)
#   BACKUP_KEEP  days to keep (default 30)
# Exit status is jarvis's; one log line per run on stdout, with duration and sizes.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${BACKUP_DIR:-/backup}
keep=${BACKUP_KEEP:-30}
started=$(date +%s)
report=$("$ROOT/scripts/jarvis" backup --out "$out" --keep "$keep" --json 2>&1)
status=$?
seconds=$(( $(date +%s) - started ))
if [ "$status" -eq 0 ]; then
  summary=$(printf '%s' "$report" | tail -n 1 | python3 -c '
import json, sys
m = json.load(sys.stdin)
sizes = ["%s=%dB" % (s, sum(f["bytes"] for f in e["files"].values())) for s, e in m["stores"].items()]
print(m["backup"], " ".join(sizes), "pruned=%d" % len(m["pruned"]))')
  echo "$(date -u +%FT%TZ) jarvis-backup ok seconds=$seconds $summary"
else
  echo "$(date -u +%FT%TZ) jarvis-backup FAILED seconds=$seconds status=$status: $(printf '%s' "$report" | tail -n 1)"
fi
exit "$status"
