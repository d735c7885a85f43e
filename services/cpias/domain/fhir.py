"""A case as FHIR R4 for other agencies' systems (docs/clusters.md, "FHIR"). Pure.

One Bundle of type `collection`, read-only:

- AdverseEvent: the infection as declared (category hospital-aquired-infection, the nature,
  the onset and detection dates, the R1413-79 criteria, death as seriousness), its subject a
  Group of anonymous patients (a count, never a person: a declaration holds no patient
  identity, R1413-80), its location the unit of the establishment, one Condition per
  pathogen (organism, resistance, mechanism) and the products involved as suspect entities;
- Communication: the declaration itself (and its complements), as the establishment sent it,
  attached as JSON, from the establishment to the CPias;
- Task: the CPias's investigation (R1413-83 3°), its status mapped from the case workflow;
- Organization: the establishment, identified by its FINESS (FR Core's FINESS system and
  identifier type FINEG, "FINESS d'entité géographique"), and the CPias.

fhir.resources' R4B models check the result (the package ships R4B as its R4: the resources
used here are the same in R4 and R4B).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from services.cpias.domain.cases import Case
from services.cpias.domain.workflow import Status

FHIR_MEDIA_TYPE = "application/fhir+json"
# FR Core (Interop'Santé, ANS), profile fr-core-organization, identifier slice "finess".
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
FR_CORE_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
UUID_SYSTEM = "urn:ietf:rfc:3986"
# Local systems of this pipeline (no national system exists for them).
REFERENCE_SYSTEM = "urn:iaspipe:declaration-reference"
CPIAS_SYSTEM = "urn:iaspipe:cpias"
CRITERION_SYSTEM = "urn:iaspipe:r1413-79-criterion"
AE_CATEGORY = "http://terminology.hl7.org/CodeSystem/adverse-event-category"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"

# The case workflow as an R4 TaskStatus; the workflow status itself is the businessStatus.
TASK_STATUS = {
    Status.new: "received",
    Status.acknowledged: "accepted",
    Status.investigating: "in-progress",
    Status.monitoring: "in-progress",
    Status.closed: "completed",
}
TASK_PRIORITY = {"urgent": "urgent", "high": "asap", "normal": "routine"}
CRITERIA = {
    "1a": "Caractère rare ou particulier : agent pathogène, profil de résistance (1° a)",
    "1b": "Caractère rare ou particulier : localisation, circonstances (1° b)",
    "2": "Cas groupés (2°)",
    "3": "Décès lié à l'infection (3°)",
    "4": "Maladie à déclaration obligatoire (4°)",
}
PRODUCTS = {
    "medical_device": "Device",
    "ivd": "Device",
    "drug": "Medication",
    "blood_product": "Substance",
    "tissue_or_cells": "Substance",
}


def case_bundle(case: Case, cpias_name: str, now: dt.datetime) -> dict[str, Any]:
    """The FHIR R4 Bundle of a case, checked by fhir.resources (ValueError if it is not
    valid FHIR: a defect here, never the caller's)."""
    ids = _Ids(case.id)
    decl = case.declaration
    establishment = decl["establishment"]
    infection = decl["infection"]
    group = {
        "resourceType": "Group",
        "id": ids.id("group"),
        "type": "person",
        "actual": True,
        "name": "Patients concernés, anonymes (R1413-80)",
        "quantity": int(infection["cases_infected"]) + int(infection["cases_colonised"]),
    }
    organization = {
        "resourceType": "Organization",
        "id": ids.id("establishment"),
        "name": establishment["name"],
        "type": [{"text": establishment["kind"]}],
        "address": [{"district": establishment["departement"], "country": "FR"}],
    }
    if establishment.get("finess"):
        organization["identifier"] = [
            {
                "use": "official",
                "type": {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": "FINEG"}]},
                "system": FINESS_SYSTEM,
                "value": establishment["finess"],
            }
        ]
    cpias = {
        "resourceType": "Organization",
        "id": ids.id("cpias"),
        "identifier": [{"system": CPIAS_SYSTEM, "value": case.cpias}],
        "name": cpias_name,
    }
    location = {
        "resourceType": "Location",
        "id": ids.id("location"),
        "name": establishment.get("unit") or establishment["name"],
        "managingOrganization": ids.ref("establishment"),
    }
    conditions = [
        {
            "resourceType": "Condition",
            "id": ids.id(f"condition-{i}"),
            "subject": ids.ref("group"),
            "code": {"text": _pathogen_text(p)},
            "onsetDateTime": infection.get("onset_date") or infection["detection_date"],
        }
        for i, p in enumerate(infection.get("pathogens") or [])
    ]
    products = [
        _product(ids.id(f"product-{kind}"), PRODUCTS[kind], product["description"])
        for kind, product in (decl.get("products") or {}).items()
        if product and kind in PRODUCTS
    ]
    event = _adverse_event(case, ids, conditions, products)
    resources = [
        event,
        _communication(case, ids),
        _task(case, ids),
        group,
        organization,
        cpias,
        location,
        *conditions,
        *products,
    ]
    bundle = {
        "resourceType": "Bundle",
        "id": ids.id(f"bundle-{now.isoformat()}"),
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [{"fullUrl": ids.url(r["id"]), "resource": r} for r in resources],
    }
    Bundle.model_validate(bundle)
    return bundle


class _Ids:
    """Stable ids: uuid5 of the case id and the resource's role, so that two exports of one
    case name its resources alike."""

    def __init__(self, case_id: str) -> None:
        self.base = uuid.UUID(case_id)

    def id(self, role: str) -> str:
        return str(uuid.uuid5(self.base, role))

    def url(self, resource_id: str) -> str:
        return f"urn:uuid:{resource_id}"

    def ref(self, role: str) -> dict[str, str]:
        return {"reference": self.url(self.id(role))}


def _pathogen_text(pathogen: dict[str, Any]) -> str:
    details = [*(pathogen.get("resistance") or []), pathogen.get("mechanism") or ""]
    extra = ", ".join(d for d in details if d)
    return f"{pathogen['species']} ({extra})" if extra else str(pathogen["species"])


def _product(resource_id: str, resource_type: str, description: str) -> dict[str, Any]:
    if resource_type == "Device":
        return {
            "resourceType": "Device",
            "id": resource_id,
            "deviceName": [{"name": description, "type": "user-friendly-name"}],
        }
    return {"resourceType": resource_type, "id": resource_id, "code": {"text": description}}


def _adverse_event(
    case: Case, ids: _Ids, conditions: list[dict[str, Any]], products: list[dict[str, Any]]
) -> dict[str, Any]:
    decl = case.declaration
    infection = decl["infection"]
    criteria = [str(c) for c in decl.get("criteria", [])]
    event: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": ids.id("adverse-event"),
        "identifier": {"system": REFERENCE_SYSTEM, "value": case.reference},
        "actuality": "actual",
        "category": [
            {
                "coding": [
                    {
                        "system": AE_CATEGORY,
                        "code": "hospital-aquired-infection",
                        "display": "Hospital Acquired Infection",
                    }
                ],
                "text": "Infection associée aux soins (R1413-79)",
            },
            {
                "coding": [
                    {"system": CRITERION_SYSTEM, "code": c, "display": CRITERIA.get(c, c)}
                    for c in criteria
                ],
                "text": "Critères de signalement (R1413-79)",
            },
        ],
        "event": {"text": infection["nature"]},
        "subject": ids.ref("group"),
        "date": infection.get("onset_date") or infection["detection_date"],
        "detected": infection["detection_date"],
        "recordedDate": case.received_at.isoformat(),
        "location": ids.ref("location"),
        "resultingCondition": [{"reference": ids.url(c["id"])} for c in conditions],
        "suspectEntity": [{"instance": {"reference": ids.url(p["id"])}} for p in products],
    }
    if "3" in criteria:
        event["seriousness"] = {
            "coding": [{"system": AE_SERIOUSNESS, "code": "SeriousResultsInDeath"}]
        }
    return {k: v for k, v in event.items() if v != []}


def _communication(case: Case, ids: _Ids) -> dict[str, Any]:
    documents = [("Déclaration", case.declaration)] + [
        (f"Complément {i}", c) for i, c in enumerate(case.complements, start=1)
    ]
    return {
        "resourceType": "Communication",
        "id": ids.id("communication"),
        "identifier": [{"system": UUID_SYSTEM, "value": f"urn:uuid:{case.declaration_id}"}],
        "status": "completed",
        "category": [{"text": "Signalement d'infection associée aux soins (R1413-79)"}],
        "subject": ids.ref("group"),
        "about": [ids.ref("adverse-event")],
        "sent": case.received_at.isoformat(),
        "sender": ids.ref("establishment"),
        "recipient": [ids.ref("cpias")],
        "payload": [
            {
                "contentAttachment": {
                    "contentType": "application/json",
                    "title": f"{title} {case.reference}",
                    "data": base64.b64encode(
                        json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
                    ).decode(),
                }
            }
            for title, body in documents
        ],
    }


def _task(case: Case, ids: _Ids) -> dict[str, Any]:
    status = Status(case.status)
    moments = [t for t in (case.opened_at, case.acknowledged_at, case.closed_at) if t]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": ids.id("task"),
        "identifier": [{"system": UUID_SYSTEM, "value": f"urn:uuid:{case.id}"}],
        "status": TASK_STATUS[status],
        "businessStatus": {"text": status.value},
        "intent": "order",
        "priority": TASK_PRIORITY[case.priority],
        "code": {"text": "Investigation et suivi du signalement par le CPias (R1413-83 3°)"},
        "focus": ids.ref("adverse-event"),
        "for": ids.ref("group"),
        "authoredOn": case.opened_at.isoformat(),
        "lastModified": max(moments).isoformat(),
        "requester": ids.ref("establishment"),
        "owner": ids.ref("cpias"),
        "restriction": {"period": {"end": case.ack_due_at.isoformat()}},
    }
    if case.acknowledged_at is not None:
        period = {"start": case.acknowledged_at.isoformat()}
        if case.closed_at is not None:
            period["end"] = case.closed_at.isoformat()
        task["executionPeriod"] = period
    if case.outcome is not None:
        task["output"] = [{"type": {"text": "outcome"}, "valueCode": case.outcome}]
    return task
