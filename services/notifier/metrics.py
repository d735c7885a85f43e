"""The notifier's Prometheus instruments (the pending gauges are in adapters/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter

SENT = Counter("notifier_messages_sent_total", "Messages handed to the mail server", ["kind"])
FAILED = Counter(
    "notifier_messages_failed_total",
    "Sending attempts that failed: transient ones are retried, permanent ones given up",
    ["kind", "error"],
)
DUPLICATES = Counter(
    "notifier_duplicate_requests_total", "Notification requests received again and skipped"
)
NO_ADDRESS = Counter(
    "notifier_messages_without_address_total",
    "Messages nobody could receive: the address book has no address for them",
    ["kind", "audience"],
)
