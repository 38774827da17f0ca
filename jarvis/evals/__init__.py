"""Retrieval evaluations on public benchmarks (``jarvis eval ...``)."""
