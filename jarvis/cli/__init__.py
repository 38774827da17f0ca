"""The ``jarvis`` command: run the local stack and the platform's jobs.

One module per group of subcommands (:mod:`~jarvis.cli.stack`, :mod:`~jarvis.cli.consistency`,
:mod:`~jarvis.cli.jobs`, :mod:`~jarvis.cli.measure`, :mod:`~jarvis.cli.admin`), the grammar in
:mod:`~jarvis.cli.parser`. Exit codes: 0 success; 1 a store is down or a job failed; 2 bad usage.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from jarvis.cli.admin import cmd_embedder, cmd_erase, cmd_keys, cmd_reembed
from jarvis.cli.consistency import cmd_rebuild, cmd_requeue, cmd_sync, cmd_verify
from jarvis.cli.jobs import cmd_backup, cmd_partitions, cmd_restore, cmd_retention
from jarvis.cli.measure import cmd_bench, cmd_demo, cmd_eval
from jarvis.cli.parser import build_parser
from jarvis.cli.stack import cmd_down, cmd_mcp, cmd_migrate, cmd_serve, cmd_status, cmd_up
from jarvis.config import Settings
from jarvis.errors import JarvisError

COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "migrate": cmd_migrate,
    "sync": cmd_sync,
    "rebuild": cmd_rebuild,
    "verify": cmd_verify,
    "requeue": cmd_requeue,
    "keys": cmd_keys,
    "demo": cmd_demo,
    "bench": cmd_bench,
    "eval": cmd_eval,
    "retention": cmd_retention,
    "partitions": cmd_partitions,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "serve": cmd_serve,
    "reembed": cmd_reembed,
    "embedder": cmd_embedder,
    "erase": cmd_erase,
    "mcp": cmd_mcp,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        # The drivers log each retry as a warning; our own message says what failed.
        logging.getLogger("neo4j").setLevel(logging.ERROR)
    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](settings, args)
    except JarvisError as exc:
        print(f"jarvis {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
