"""Topic names (design.md, "Topics")."""

from __future__ import annotations

from schemas.reference import ReferenceData

DECLARATIONS = "ias.declarations.v1"
ROUTING = "ias.routing.v1"
STATUS = "ias.status.v1"
# Notification requests (NotificationRequested), born in the outbox of the service that
# decides them (intake, cpias) and sent by the notifier.
NOTIFICATIONS = "ias.notifications.v1"
# Clusters flagged for Santé publique France (ClusterFlagged), keyed by the cluster id: not on
# ias.status.v1, whose records are keyed by a declaration id and follow one declaration.
CLUSTERS = "ias.clusters.v1"
DLQ = "ias.dlq.v1"

# Rules v2: no regional quality structure (SRA) recipient, the ANSM for devices and IVDs.
REGIONAL_KINDS = ("ars", "crpv", "crmrv", "crhst")
NATIONAL_RECIPIENTS = ("spf", "biovigilance", "ansm")


def recipient_topic(recipient_id: str) -> str:
    return f"ias.to.{recipient_id}.v1"


def recipient_ids(ref: ReferenceData) -> list[str]:
    """Every recipient the routing rules can name."""
    ids = [f"{kind}-{region}" for kind in REGIONAL_KINDS for region in ref.region_codes]
    return [*ids, *ref.cpias_ids, *NATIONAL_RECIPIENTS]


def all_topics(ref: ReferenceData) -> list[str]:
    return [
        DECLARATIONS,
        ROUTING,
        STATUS,
        NOTIFICATIONS,
        CLUSTERS,
        DLQ,
        *(recipient_topic(r) for r in recipient_ids(ref)),
    ]
