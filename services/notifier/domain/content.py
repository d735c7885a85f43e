"""What a message may show, and nothing else (docs/notifications.md, the content rule).

E-mail is not a safe channel for health data. A message shows the reference, the priority,
the establishment's name and FINESS, the département, the deadline and a link to the portal
page; a receipt adds the recipients and the obligations still owed (article and French text
of the routing rules); a closing message adds the outcome's label; a complement's message
says that one has arrived, never what it says. The templates only ever
see a `Facts`, built here from a notification request, which carries no free text of the
declaration and nothing about a patient. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas.events import NotificationRequested
from schemas.notifications import Audience
from schemas.reference import ReferenceData, french_moment, time_zone_name, time_zone_of

PRIORITY_LABELS = {"urgent": "urgente", "high": "haute", "normal": "normale"}

OUTCOME_LABELS = {
    "controlled": "épisode maîtrisé",
    "no_further_action": "sans suite à donner",
    "transferred": "dossier transmis",
    "not_healthcare_associated": "infection non associée aux soins",
    "other": "autre issue",
}

OWED_TO_LABELS = {
    "ars": "l'ARS",
    "spf": "Santé publique France",
    "ansm": "l'ANSM",
}

# What each obligation still owed is, in words that say nothing of the infection: the
# routing decision's own message names the notifiable disease or the death, which stay on the
# portal page, out of e-mail.
OBLIGATION_LABELS = {
    "notifiable_disease_report_ars": "le signalement nominatif d'une maladie à déclaration "
    "obligatoire, sans délai",
    "notifiable_disease_notification_spf": "la notification nominative d'une maladie à "
    "déclaration obligatoire",
    "serious_adverse_event_ars": "selon les circonstances, la déclaration d'un événement "
    "indésirable grave associé aux soins (EIGS)",
    "materiovigilance_ansm": "la déclaration de matériovigilance",
    "reactovigilance_ansm": "la déclaration de réactovigilance",
}


def obligation_label(rule: str) -> str:
    return OBLIGATION_LABELS.get(rule, "une autre déclaration")


NATIONAL_LABELS = {
    "spf": "Santé publique France",
    "ansm": "Agence nationale de sécurité du médicament (ANSM)",
    "biovigilance": "Biovigilance (ANSM)",
}

REGIONAL_LABELS = {
    "ars": "Agence régionale de santé",
    "crpv": "Centre régional de pharmacovigilance",
    "crmrv": "Coordination régionale de matériovigilance et de réactovigilance",
    "crhst": "Coordination régionale d'hémovigilance",
}


@dataclass(frozen=True)
class CaseFacts:
    """One declaration, as a message may show it."""

    reference: str
    priority: str
    priority_label: str
    establishment: str
    finess: str | None
    departement: str
    deadline: str | None
    link: str


@dataclass(frozen=True)
class ObligationFacts:
    article: str
    owed_to: str
    message: str


@dataclass(frozen=True)
class Facts:
    """Everything a template may use: `cases` holds one declaration, or a digest's list."""

    kind: str
    audience: str
    cases: list[CaseFacts]
    portal_url: str
    team: str | None = None
    day: str | None = None
    recipients: list[str] = field(default_factory=list)
    obligations: list[ObligationFacts] = field(default_factory=list)
    outcome: str | None = None

    @property
    def case(self) -> CaseFacts:
        return self.cases[0]


def local_time(at: dt.datetime, departement: str) -> str:
    """An instant on the département's own clock, as a French reader expects it."""
    zone = time_zone_of(departement)
    return f"{french_moment(at, zone)} ({time_zone_name(zone)})"


def recipient_label(recipient_id: str, ref: ReferenceData) -> str:
    """ "ars-84" -> "Agence régionale de santé Auvergne-Rhône-Alpes", "cpias-ara" -> its name."""
    if recipient_id in NATIONAL_LABELS:
        return NATIONAL_LABELS[recipient_id]
    for dep in ref.departements.values():
        if dep.cpias_id == recipient_id:
            return dep.cpias_name
    kind, _, region = recipient_id.partition("-")
    names = {d.region_code: d.region_name for d in ref.departements.values()}
    if kind in REGIONAL_LABELS and region in names:
        return f"{REGIONAL_LABELS[kind]} {names[region]}"
    return recipient_id


def departement_label(code: str, ref: ReferenceData) -> str:
    dep = ref.departements.get(code)
    return f"{dep.name} ({code})" if dep else code


def page_of(request: NotificationRequested, audience: str, portal_url: str) -> str:
    """The portal page its reader can open: the case for the CPias team (its queue), the
    declaration for the declarant and for the ARS (whose line list leads there too)."""
    base = portal_url.rstrip("/")
    if audience != Audience.cpias.value or request.case_id is None:
        return f"{base}/declarations/{request.declaration_id}"
    return f"{base}/cases/{request.case_id}"


def case_facts(
    request: NotificationRequested, audience: str, *, portal_url: str, ref: ReferenceData
) -> CaseFacts:
    establishment = request.establishment
    return CaseFacts(
        reference=request.reference,
        priority=request.priority.value,
        priority_label=PRIORITY_LABELS[request.priority.value],
        establishment=establishment.name,
        finess=establishment.finess,
        departement=departement_label(establishment.departement, ref),
        deadline=local_time(request.deadline, establishment.departement)
        if request.deadline
        else None,
        link=page_of(request, audience, portal_url),
    )


def facts_of(
    request: NotificationRequested, audience: str, *, portal_url: str, ref: ReferenceData
) -> Facts:
    """The facts of a message about one declaration."""
    return Facts(
        kind=request.kind.value,
        audience=audience,
        cases=[case_facts(request, audience, portal_url=portal_url, ref=ref)],
        portal_url=portal_url.rstrip("/"),
        team=recipient_label(request.cpias, ref),
        recipients=[recipient_label(r, ref) for r in request.recipients],
        obligations=[
            ObligationFacts(
                article=o.article,
                owed_to=OWED_TO_LABELS.get(o.owed_to, o.owed_to),
                message=obligation_label(o.rule),
            )
            for o in request.obligations
        ],
        outcome=OUTCOME_LABELS.get(request.outcome or "", request.outcome),
    )


def digest_facts(
    cpias: str,
    day: dt.date,
    requests: list[NotificationRequested],
    *,
    portal_url: str,
    ref: ReferenceData,
) -> Facts:
    """The facts of a CPias's daily list of non-urgent new cases, oldest first."""
    ordered = sorted(requests, key=lambda r: (r.requested_at, r.reference))
    return Facts(
        kind="digest",
        audience=Audience.cpias.value,
        cases=[
            case_facts(r, Audience.cpias.value, portal_url=portal_url, ref=ref) for r in ordered
        ],
        portal_url=portal_url.rstrip("/"),
        team=recipient_label(cpias, ref),
        day=f"{day:%d/%m/%Y}",
    )


def subject(facts: Facts) -> str:
    """The subject line: the reference and what is expected, nothing more."""
    if facts.kind == "digest":
        count = len(facts.cases)
        plural = "s" if count > 1 else ""
        return (
            f"Signalements IAS du {facts.day} : {count} nouveau{'x' if count > 1 else ''} "
            f"dossier{plural} non urgent{plural} ({facts.team})"
        )
    case = facts.case
    subjects = {
        "receipt": f"Accusé de réception de votre signalement {case.reference}",
        "case_closed": f"Signalement {case.reference} : dossier clos par le CPias",
        "new_case": (
            f"[URGENT] Nouveau signalement {case.reference} à prendre en compte"
            if case.priority == "urgent"
            else f"Nouveau signalement {case.reference} (priorité {case.priority_label})"
        ),
        "ack_reminder": f"[RAPPEL] Signalement {case.reference} non pris en compte : "
        f"échéance le {case.deadline}",
        "ack_overdue": f"[DÉLAI DÉPASSÉ] Signalement {case.reference} non pris en compte "
        "dans le délai",
        "complement": f"Complément reçu pour le signalement {case.reference}",
    }
    return subjects[facts.kind]
