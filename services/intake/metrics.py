"""Intake's Prometheus instruments."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECEIVED = Counter(
    "intake_declarations_received_total",
    "Declarations accepted, once per criterion ticked",
    ["region", "criterion"],
)
ACCEPTED = Counter("intake_declarations_accepted_total", "Declarations accepted", ["region"])
REFUSED = Counter("intake_declarations_refused_total", "Submissions refused, by rule", ["reason"])
REPUBLISHED = Counter(
    "intake_declarations_republished_total",
    "Declarations published again because no CPias confirmation came back",
)
COMPLEMENTS_REPUBLISHED = Counter(
    "intake_complements_republished_total",
    "Complements published again because the CPias did not confirm attaching them",
)
SUBMISSION_BATCH = Histogram(
    "intake_submission_batch_size",
    "Declarations written by one statement (group commit, PostgreSQL)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
