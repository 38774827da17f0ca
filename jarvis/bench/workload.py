"""Realistic generated English (deterministic): what agents store and ask about.

A knowledge item is a short paragraph, as in a team's incident notes: what happened, what was
done about it, and what was learned (about 35 words, 45 tokens). Over 16 million distinct
paragraphs exist, so N = 100,000 needs no numbering to stay distinct.
"""

from __future__ import annotations

import random

SUBJECTS = [
    "The billing service",
    "Our deployment pipeline",
    "The support team",
    "A nightly backup job",
    "The recommendation model",
    "The mobile app",
    "The data warehouse",
    "An on-call engineer",
    "The payment gateway",
    "The search index",
    "A customer in Lisbon",
    "The marketing site",
    "The translation agent",
    "The scheduling agent",
    "The finance department",
    "The GPU cluster",
]
VERBS = [
    "failed to reach",
    "slowly rebuilt",
    "doubled the traffic to",
    "accidentally deleted",
    "migrated",
    "cached the results of",
    "timed out while calling",
    "rolled back",
    "encrypted",
    "compressed",
    "summarised the logs of",
    "escalated a ticket about",
    "reindexed",
    "throttled",
    "audited",
    "patched",
]
OBJECTS = [
    "the user database",
    "last quarter's invoices",
    "the image thumbnails",
    "the shipping labels",
    "the European region",
    "the weekly report",
    "the login endpoint",
    "the product catalogue",
    "the message queue",
    "the onboarding emails",
    "the fraud rules",
    "the holiday calendar",
    "the sensor readings",
    "the contract archive",
    "the chat transcripts",
    "the test suite",
]
REASONS = [
    "after a configuration change",
    "during the peak hour",
    "because a certificate expired",
    "when the disk filled up",
    "to cut costs",
    "at a customer's request",
    "after a security review",
    "because of a race condition",
    "while a migration was running",
    "before the audit",
    "for the new mobile release",
    "when retries piled up",
    "after the vendor changed their API",
    "to meet the new regulation",
    "because the cache was cold",
    "during the office move",
]

ACTIONS = [
    "The team restored service by rolling back the last release",
    "An engineer added retries with exponential backoff",
    "We moved the job to a quieter hour of the night",
    "Support told the affected customers by email",
    "The vendor issued a new certificate within the hour",
    "We doubled the size of the connection pool",
    "A feature flag now turns the new code path off",
    "The old index was dropped and built again",
    "Finance approved a bigger budget for the cluster",
    "We added an alert on the queue length",
    "The data was restored from the nightly backup",
    "Traffic was shifted to the standby region",
    "The cache is now warmed before the release",
    "A second reviewer now signs off every migration",
    "The timeout was raised from five to thirty seconds",
    "We split the work into smaller batches",
]
LESSONS = [
    "Next time we check the dashboards before paging anyone.",
    "The runbook now describes every step.",
    "Nobody lost data, but the report was late by a day.",
    "It cost about two hours of engineering time.",
    "The same thing had happened twice last year.",
    "Customers noticed it before our monitoring did.",
    "We wrote a test that fails if it happens again.",
    "The postmortem is linked from the wiki.",
    "Latency went back to normal within minutes.",
    "It was fixed before most users woke up.",
    "We still do not know why it started that day.",
    "Legal asked to be told sooner in the future.",
    "The fix was deployed to every region on Monday.",
    "Two other services depended on it without knowing.",
    "The budget for next quarter accounts for it.",
    "A junior engineer found the cause first.",
]


def sentences(n: int, *, seed: int = 7) -> list[str]:
    """*n* distinct knowledge paragraphs, the same for the same seed."""
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        text = (
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(REASONS)}. "
            f"{rng.choice(ACTIONS)}. {rng.choice(LESSONS)}"
        )
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def questions(n: int, *, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [
        f"What happened when {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}?"
        for _ in range(n)
    ]
