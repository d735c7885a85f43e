"""The administration pages' words and queries: the audit log's services, actions, reasons and
filters; the notifier's message kinds, audiences and statuses; the address book's choices.
Pure: no I/O."""

from __future__ import annotations

import urllib.parse
from dataclasses import asdict, dataclass, replace

# Whose audit log is read: the portal's own table, or a service's GET /v1/audit.
AUDIT_SERVICES = {
    "portal": "Portail",
    "intake": "Réception des déclarations",
    "cpias": "Dossiers des CPias",
    "notifier": "Courriels",
}

AUDIT_ACTIONS = {
    "sign_in": "Connexion",
    "sign_out": "Déconnexion",
    "account:add": "Compte créé",
    "account:disable": "Compte désactivé",
    "account:enable": "Compte réactivé",
    "account:password": "Mot de passe réinitialisé",
    "submit": "Déclaration envoyée",
    "read": "Lecture",
    "list": "Liste consultée",
    "read:figures": "Chiffres régionaux consultés",
    "complement": "Complément envoyé",
    "transition:acknowledged": "Dossier pris en compte",
    "transition:investigating": "Dossier en investigation",
    "transition:monitoring": "Dossier en surveillance",
    "transition:closed": "Dossier clôturé",
    "assignment": "Attribution",
    "note": "Note",
    "link": "Lien entre dossiers",
    "read:fhir": "Export FHIR",
    "cluster:confirm": "Regroupement confirmé",
    "cluster:dismiss": "Regroupement écarté",
    "cluster:add": "Ajout à un regroupement",
    "address_book:update": "Adresse de notification modifiée",
}

# The action filter's choices, grouped.
ACTION_GROUPS = {
    "Connexions et comptes": [
        "sign_in",
        "sign_out",
        "account:add",
        "account:disable",
        "account:enable",
        "account:password",
    ],
    "Lectures": ["read", "list", "read:figures", "read:fhir"],
    "Déclarations": ["submit", "complement"],
    "Dossiers des CPias": [
        *(a for a in AUDIT_ACTIONS if a.startswith("transition:")),
        "assignment",
        "note",
        "link",
        "cluster:confirm",
        "cluster:dismiss",
        "cluster:add",
    ],
    "Courriels": ["address_book:update"],
}

OBJECT_TYPES = {
    "account": "compte",
    "declaration": "déclaration",
    "case": "dossier",
    "cluster": "regroupement",
    "alert": "alertes de seuil",
    "notifications": "courriels d’une déclaration",
    "address_book": "carnet d’adresses",
    "cpias": "adresse d’un CPias",
    "ars": "adresse d’une ARS",
}

# Who changed something without being a person signed in: the server's command line.
COMMAND_LINE_SUBJECT = "iaspipe users"
SUBJECTS = {COMMAND_LINE_SUBJECT: "Exploitant, en ligne de commande"}
# An object id that stands for every object of its kind (the figures of every region), and
# what a read of every object, or of one region's, is called.
EVERY_OBJECT = "*"
EVERY_OF_KIND = {
    "declaration": "Toutes les déclarations",
    "case": "Tous les dossiers",
    "address_book": "Tout le carnet d’adresses",
}
# Everyone but an admin reads "every" object within their own scope (an establishment, a
# CPias, a region): the entry says so rather than "all".
SCOPED_OF_KIND = {
    "declaration": "Les déclarations de son périmètre",
    "case": "Les dossiers de son périmètre",
}
REGION_OF_KIND = {"declaration": "Déclarations de la région", "case": "Dossiers de la région"}

OUTCOMES = {"done": ("Fait", "success"), "refused": ("Refusé", "error")}

REASONS = {
    "wrong_credentials": "identifiants incorrects",
    "locked_out": "identifiant bloqué",
    "account_disabled": "compte désactivé",
    "forbidden": "rôle non autorisé",
    "not_found": "absent ou hors du périmètre",
    "invalid_token": "jeton refusé",
}


def reason_label(reason: str | None) -> str:
    """`invalid_token: expired` -> "jeton refusé (expired)"; unknown reasons as given."""
    if not reason:
        return ""
    code, _, detail = reason.partition(":")
    label = REASONS.get(code.strip(), reason)
    return f"{label} ({detail.strip()})" if detail.strip() and code in REASONS else label


def object_label(
    object_id: str, object_type: str, regions: dict[str, str], role: str = "admin"
) -> tuple[str, str]:
    """What an audit entry is about, on two lines: the object, then its kind. A read of every
    object, or of a region's, is named in words ("Toutes les déclarations" for an admin, "Les
    déclarations de son périmètre" for anyone else, "Déclarations de la région" over the
    region's name) rather than as "*" or "84"."""
    kind = OBJECT_TYPES.get(object_type, object_type)
    if object_id == EVERY_OBJECT:
        if role != "admin" and object_type in SCOPED_OF_KIND:
            return SCOPED_OF_KIND[object_type], ""
        return EVERY_OF_KIND.get(object_type, "Tous"), "" if object_type in EVERY_OF_KIND else kind
    if object_type in REGION_OF_KIND and object_id in regions:
        return REGION_OF_KIND[object_type], regions[object_id]
    return object_id, kind


def action_label(action: str) -> str:
    return AUDIT_ACTIONS.get(action, action)


@dataclass(frozen=True)
class AuditQuery:
    """The audit page's filters as they stand in its URL."""

    service: str = "portal"
    subject: str = ""
    action: str = ""
    object_id: str = ""
    outcome: str = ""
    page: int = 1

    def __post_init__(self) -> None:
        for name in ("subject", "action", "object_id"):
            object.__setattr__(self, name, getattr(self, name).strip())
        if self.service not in AUDIT_SERVICES:
            object.__setattr__(self, "service", "portal")
        if self.outcome not in OUTCOMES:
            object.__setattr__(self, "outcome", "")

    @property
    def filters(self) -> dict[str, str]:
        """What the services' GET /v1/audit (and the portal's table) filter on."""
        values = asdict(self)
        names = ("subject", "action", "object_id", "outcome")
        return {name: values[name] for name in names if values[name]}

    @property
    def filtered(self) -> bool:
        return bool(self.filters)

    @property
    def summary(self) -> list[str]:
        """The filters in force, in words, for the table's caption: "Action : Compte désactivé"."""
        shown = {
            "action": ("Action", action_label(self.action)),
            "outcome": ("Résultat", OUTCOMES.get(self.outcome, ("", ""))[0]),
            "subject": ("Qui", self.subject),
            "object_id": ("Objet", self.object_id),
        }
        return [f"{shown[name][0]} : {shown[name][1]}" for name in shown if name in self.filters]

    def url(self, page: int) -> str:
        """This query at another page: only what is set stands in the URL."""
        values = {k: v for k, v in asdict(replace(self, page=page)).items() if v}
        if values.get("page") == 1:
            del values["page"]
        return "/admin/audit" + (f"?{urllib.parse.urlencode(values)}" if values else "")


# -- the notifier ---------------------------------------------------------------------------

MESSAGE_KINDS = {
    "receipt": "Accusé de réception de la déclaration",
    "new_case": "Alerte de nouveau cas",
    "ack_reminder": "Rappel avant l’échéance de prise en compte",
    "ack_overdue": "Avertissement de dépassement de l’échéance",
    "case_closed": "Avis de clôture du dossier",
    "complement": "Avis de complément reçu",
    "digest": "Récapitulatif quotidien du CPias",
}

AUDIENCES = {"declarant": "Déclarant", "cpias": "Équipe du CPias", "ars": "ARS de la région"}

MESSAGE_STATUSES = {
    "pending": ("En attente d’envoi", "info"),
    "sent": ("Envoyé", "success"),
    "failed": ("Refusé par le serveur de messagerie", "error"),
    "no_address": ("Aucune adresse connue", "warning"),
}

NON_URGENT = {
    "immediate": "Un courriel à chaque nouveau cas",
    "digest": "Un récapitulatif quotidien",
}


def message_status(status: str) -> tuple[str, str]:
    """(French label, DSFR badge kind) of a message's status."""
    return MESSAGE_STATUSES.get(status, (status, "info"))
