"""Jobs that cron and operators run: rebuild, verify, requeue (and later retention, backup)."""
