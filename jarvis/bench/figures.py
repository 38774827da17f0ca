"""A benchmark figure — the platform's number beside the raw reference measured in the same
run, and their ratio — and the base every phase of ``jarvis bench`` builds on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class Figure:
    figure: str
    n: int | None
    value: float
    unit: str
    reference: float | None
    ratio: float | None
    target: str
    met: bool | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q)) if samples else float("nan")


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Phases:
    """What every phase shares: the facade it measures, the settings, the figures collected
    and where progress is said."""

    def __init__(self, jarvis, *, settings, progress: Callable[[str], None] = lambda m: None) -> None:
        self.jarvis, self.settings, self.say = jarvis, settings, progress
        self.figures: list[Figure] = []
        self.run = uuid.uuid4().hex[:8]
        self.category = f"bench-{self.run}"
        self.ingest_rates: dict[int, float] = {}

    def add(
        self,
        figure: str,
        n: int | None,
        value: float,
        unit: str,
        reference: float | None,
        *,
        target: str,
        met: bool | None,
        ratio: float | None = None,
    ) -> None:
        if ratio is None and reference:
            ratio = value / reference
        self.figures.append(
            Figure(
                figure,
                n,
                round(value, 3),
                unit,
                None if reference is None else round(reference, 3),
                None if ratio is None else round(ratio, 3),
                target,
                met,
            )
        )
        self.say(f"{figure} (n={n}): {value:.3f} {unit}, reference {reference}, ratio {ratio}")

    def rss(self, label: str) -> None:
        import psutil

        self.add(label, None, psutil.Process().memory_info().rss / 2**20, "MiB", None, target="report", met=None)
