"""``jarvis bench``'s figures, phase by phase: each one the platform's number beside the raw
reference measured in the same run on the same machine, and their ratio. Each phase is a
module of its own; :class:`Bench` is all of them over one facade."""

from __future__ import annotations

from jarvis.bench.api_phase import ApiPhase
from jarvis.bench.coordination import QueuePhase
from jarvis.bench.figures import Figure, pct, timed
from jarvis.bench.peer_phase import PeerPhase
from jarvis.bench.searching import SearchPhase
from jarvis.bench.writes import WritePhases

__all__ = ["Bench", "Figure", "pct", "timed"]


class Bench(WritePhases, SearchPhase, QueuePhase, ApiPhase, PeerPhase):
    """Runs against a facade (which holds the stores) and collects figures."""
