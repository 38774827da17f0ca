"""Realistic generated English (deterministic): what agents store and ask about."""

from __future__ import annotations

import random

SUBJECTS = ["The billing service", "Our deployment pipeline", "The support team", "A nightly backup job",
            "The recommendation model", "The mobile app", "The data warehouse", "An on-call engineer",
            "The payment gateway", "The search index", "A customer in Lisbon", "The marketing site",
            "The translation agent", "The scheduling agent", "The finance department", "The GPU cluster"]
VERBS = ["failed to reach", "slowly rebuilt", "doubled the traffic to", "accidentally deleted", "migrated",
         "cached the results of", "timed out while calling", "rolled back", "encrypted", "compressed",
         "summarised the logs of", "escalated a ticket about", "reindexed", "throttled", "audited", "patched"]
OBJECTS = ["the user database", "last quarter's invoices", "the image thumbnails", "the shipping labels",
           "the European region", "the weekly report", "the login endpoint", "the product catalogue",
           "the message queue", "the onboarding emails", "the fraud rules", "the holiday calendar",
           "the sensor readings", "the contract archive", "the chat transcripts", "the test suite"]
REASONS = ["after a configuration change", "during the peak hour", "because a certificate expired",
           "when the disk filled up", "to cut costs", "at a customer's request", "after a security review",
           "because of a race condition", "while a migration was running", "before the audit",
           "for the new mobile release", "when retries piled up", "after the vendor changed their API",
           "to meet the new regulation", "because the cache was cold", "during the office move"]


def sentences(n: int, *, seed: int = 7) -> list[str]:
    """*n* distinct sentences, the same for the same seed."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(REASONS)}."
        if text in seen:
            text = text[:-1] + f" (case {len(out)})."
        seen.add(text)
        out.append(text)
    return out


def questions(n: int, *, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [f"What happened when {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}?"
            for _ in range(n)]
