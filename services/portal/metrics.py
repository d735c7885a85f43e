"""The portal's Prometheus instruments."""

from __future__ import annotations

from prometheus_client import Counter

SIGN_INS = Counter("portal_sign_ins_total", "Sign-in attempts, by outcome", ["outcome"])
SUBMISSIONS = Counter(
    "portal_submissions_total", "Drafts sent to intake, by intake's answer", ["answer"]
)
