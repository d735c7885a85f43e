"""The CPias service's Prometheus instruments (the case gauges are in adapters/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

OPENED = Counter("cpias_cases_opened_total", "Cases opened", ["cpias", "priority"])
DUPLICATES = Counter("cpias_duplicate_events_total", "Redelivered events recognised and skipped")
TIME_TO_ACK = Histogram(
    "cpias_time_to_acknowledge_seconds",
    "From case opening to acknowledgement",
    ["cpias", "priority"],
    buckets=(300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
SUBMISSION_TO_ACK = Histogram(
    "cpias_submission_to_acknowledge_seconds",
    "From the declaration's submission to its acknowledgement by the CPias",
    ["cpias", "region", "priority"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
TIME_TO_CLOSE = Histogram(
    "cpias_time_to_close_seconds",
    "From case opening to closure",
    ["cpias", "priority"],
    buckets=(86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400, 365 * 86400),
)
SUGGESTED = Counter(
    "cpias_cluster_suggestions_total",
    "Cluster links suggested between cases when a case opens (docs/clusters.md)",
    ["mechanism_family"],
)
THRESHOLDS = Counter(
    "cpias_threshold_alerts_total",
    "Thresholds crossed: N episodes of one mechanism family in one département within D days, "
    "counted once per crossing",
    ["mechanism_family", "departement"],
)
DETECTION = Histogram(
    "cpias_cluster_detection_seconds",
    "Time to key a new case, suggest its clusters and check the thresholds (the rule's time "
    "for a poll's new cases, shared evenly among those it keys)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
