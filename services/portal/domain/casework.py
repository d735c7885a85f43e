"""The investigators' pages, without I/O: the French words of a case (statuses, priorities,
notes, links, moves, history), the queue's filters as the URL carries them, and the forms of
a case's page with the problems cpias answered placed beside their fields."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.problems import Problem
from schemas.reference import typographic
from services.portal.domain.accounts import Person
from services.portal.domain.answers import ServiceUnavailable
from services.portal.domain.form import Field, dom_id, whole_number
from services.portal.domain.labels import OUTCOMES, PRIORITIES

# -- words ---------------------------------------------------------------------------------

# (French label, DSFR badge modifier) of a case's status.
CASE_STATUSES = {
    "new": ("À prendre en compte", "new"),
    "acknowledged": ("Pris en compte", "info"),
    "investigating": ("En investigation", "warning"),
    "monitoring": ("En surveillance", "purple-glycine"),
    "closed": ("Clôturé", "success"),
}

NOTE_KINDS = {
    "call": "Appel téléphonique",
    "site_visit": "Visite sur place",
    "screening_result": "Résultat de dépistage",
    "recommendation": "Recommandation",
    "measure": "Mesure de gestion",
    "other": "Autre",
}

LINK_KINDS = {
    "same_episode": "Même épisode",
    "cluster": "Cas groupés",
}

LINK_STATUSES = {
    "suggested": ("Suggéré", "info"),
    "confirmed": ("Confirmé", "success"),
    "dismissed": ("Écarté", "blue-ecume"),
}

# The button of each move, by the status it leads to (and where it comes from, when that
# changes the words).
MOVES = {
    "acknowledged": "Accuser réception et prendre en compte",
    "investigating": "Commencer l’investigation",
    "monitoring": "Passer en surveillance",
    "closed": "Clôturer le dossier",
}
MOVE_BACK = {("monitoring", "investigating"): "Reprendre l’investigation"}

INFO = {
    "moved": "Le dossier est maintenant « {status} » : le déclarant le voit sur le suivi de "
    "sa déclaration.",
    "assigned": "L’attribution du dossier est enregistrée.",
    "note": "La note est enregistrée.",
    "linked": "Le lien entre les dossiers est enregistré.",
    "confirmed": "Le regroupement est confirmé.",
    "dismissed": "La suggestion est écartée : ces deux dossiers ne seront plus proposés ensemble.",
}


def notice(key: str, status: str) -> str | None:
    """The notice shown after a change (`info` of the URL), None for an unknown one."""
    text = INFO.get(key)
    return text.replace("{status}", status_label(status)[0]) if text else None


def status_label(status: str) -> tuple[str, str]:
    return CASE_STATUSES.get(status, (status, "info"))


def priority_label(priority: str) -> tuple[str, str]:
    return PRIORITIES.get(priority, (priority, "info"))


def move_label(current: str, to: str) -> str:
    return MOVE_BACK.get((current, to)) or MOVES.get(to, to)


def outcome_label(outcome: str | None) -> str:
    text = OUTCOMES.get(outcome or "", outcome or "")
    return text[:1].upper() + text[1:]


JUST_NOW = "à l’instant"


def age(since: dt.datetime, now: dt.datetime) -> str:
    """How long ago, as people say it: "12 min", "5 h", "3 j"."""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 1:
        return JUST_NOW
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} j"


def ago(since: dt.datetime, now: dt.datetime) -> str:
    """`age` in a sentence: "il y a 12 min", or "à l’instant"."""
    text = age(since, now)
    return text if text == JUST_NOW else f"il y a {text}"


def person_name(subject: str | None, names: Mapping[str, str]) -> str:
    if not subject:
        return ""
    if subject == "system":
        return "Automatique"
    return names.get(subject, subject)


def history_text(action: str, after: Mapping[str, Any] | None, names: Mapping[str, str]) -> str:
    """One line of a case's history in French."""
    a = after or {}
    other = a.get("reference") or "un dossier d’un autre CPias"
    match action:
        case "opened":
            return f"Dossier ouvert, priorité {priority_label(str(a.get('priority')))[0].lower()}"
        case "status":
            text = f"Statut : {status_label(str(a.get('status')))[0]}"
            if a.get("outcome"):
                text += f" (issue : {OUTCOMES.get(str(a['outcome']), a['outcome'])})"
            return text
        case "assignment":
            who = person_name(a.get("assignee"), names)
            return f"Attribué à {who}" if who else "Attribution retirée"
        case "note":
            return f"Note ajoutée : {NOTE_KINDS.get(str(a.get('kind')), a.get('kind'))}"
        case "link":
            return f"Lié au dossier {other} ({LINK_KINDS.get(str(a.get('kind')), a.get('kind'))})"
        case "complement_received":
            return "Complément reçu de l’établissement"
        case "cluster_suggested":
            return f"Regroupement suggéré avec le dossier {other}"
        case "cluster_confirmed":
            return f"Regroupement confirmé avec le dossier {other}"
        case "cluster_dismissed":
            return f"Suggestion de regroupement écartée avec le dossier {other}"
        case "cluster":
            return f"Ajouté au regroupement « {a.get('name', '')} »"
    return action


# The declaration read by the CPias: its declarant named in the third person.
READER_LABELS = {
    "declarant.name": "Nom et prénom du déclarant",
    "declarant.role": "Qualité du déclarant",
    "declarant.rpps": "Numéro RPPS du déclarant",
    "declarant.function": "Fonction du déclarant",
    "declarant.email": "Adresse électronique du déclarant",
    "declarant.phone": "Téléphone du déclarant",
    "cpias_support_requested": "Appui du CPias demandé",
}


def french_list(text: str) -> str:
    """ "a; b" as French sets it: "a ; b", with French apostrophes."""
    return typographic(re.sub(r"\s*;\s*", " ; ", text))


def is_uuid(value: str) -> bool:
    """An id as the services make them (a case's, a declaration's): anything else is not one."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


# -- the queue's filters -------------------------------------------------------------------

OPEN = ""  # the default: every case not closed
ALL = "tous"
ME, NOBODY = "moi", "personne"


@dataclass(frozen=True)
class QueueFilters:
    """The filters of /cases as its GET form and its links carry them."""

    status: str = OPEN
    priority: str = ""
    assignee: str = ""
    overdue: bool = False
    q: str = ""
    cpias: str = ""
    page: int = 1

    @classmethod
    def read(
        cls, query: Mapping[str, str], *, assignees: set[str], may_choose_cpias: bool
    ) -> QueueFilters:
        """Only known values are kept: anything else is as if not chosen."""

        def one(name: str, allowed: set[str] | None = None) -> str:
            value = (query.get(name) or "").strip()
            return value if allowed is None or value in allowed else ""

        page = one("page")
        return cls(
            status=one("status", {ALL, *CASE_STATUSES}),
            priority=one("priority", set(PRIORITIES)),
            assignee=one("assignee", {ME, NOBODY, *assignees}),
            overdue=one("overdue") == "on",
            q=one("q")[:100],
            cpias=one("cpias") if may_choose_cpias else "",
            page=max(whole_number(page), 1),
        )

    def api_params(self, me: str) -> dict[str, Any]:
        """The query of cpias's GET /v1/cases."""
        params: dict[str, Any] = {}
        if self.status == OPEN:
            params["closed"] = "false"
        elif self.status != ALL:
            params["status"] = self.status
        if self.priority:
            params["priority"] = self.priority
        if self.assignee == NOBODY:
            params["assigned"] = "false"
        elif self.assignee:
            params["assignee"] = me if self.assignee == ME else self.assignee
        if self.overdue:
            params["overdue"] = "true"
        if self.q:
            params["q"] = self.q
        if self.cpias:
            params["cpias"] = self.cpias
        return params

    def url(self, page: int) -> str:
        """The queue with these filters, at another page."""
        return f"/cases?{self.query(page=page)}"

    def query(self, **changes: Any) -> str:
        """The URL query of these filters (with `changes`), without what is left empty."""
        values = {
            "status": self.status,
            "priority": self.priority,
            "assignee": self.assignee,
            "overdue": "on" if self.overdue else "",
            "q": self.q,
            "cpias": self.cpias,
            "page": self.page if self.page > 1 else "",
            **changes,
        }
        return urllib.parse.urlencode({k: v for k, v in values.items() if v not in ("", None)})

    @property
    def chosen(self) -> bool:
        return self != QueueFilters(page=self.page)


# -- the forms of a case's page ------------------------------------------------------------

# The fields of each form, and where a problem whose path names no field of it is shown.
FORM_FIELDS = {
    "move": ("to", "outcome", "reason"),
    "assign": ("assignee",),
    "note": ("kind", "text"),
    "link": ("reference", "kind", "reason"),
    "decide": ("name", "reason"),
}
# Paths cpias answers that belong to a field of the form under another name.
PATH_TO_FIELD = {
    "link": {"case_id": "reference", "declaration_id": "reference", "links": "reference"}
}


@dataclass
class CaseForm:
    """A form of a case's page as posted, with the problems of its answer. `target` tells
    apart the forms of one kind on the page (the suggestion a decision is about)."""

    name: str = ""
    posted: Mapping[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    target: str = ""
    conflict: str = ""

    def mine(self, name: str, target: str = "") -> bool:
        return self.name == name and self.target == target

    def value(self, name: str, field_name: str, default: str = "", target: str = "") -> str:
        if not self.mine(name, target):
            return default
        return (self.posted.get(field_name) or [default])[0]

    def _field(self, path: str) -> str | None:
        path = PATH_TO_FIELD.get(self.name, {}).get(path, path)
        return path if path in FORM_FIELDS.get(self.name, ()) else None

    def errors(self, name: str, field_name: str, target: str = "") -> list[Problem]:
        if not self.mine(name, target):
            return []
        return [p for p in self.problems if self._field(p.path) == field_name]

    def general(self, name: str, target: str = "") -> list[Problem]:
        if not self.mine(name, target):
            return []
        return [p for p in self.problems if self._field(p.path) is None]


def problem(path: str, rule: str, message: str, message_en: str) -> Problem:
    return Problem(path=path, rule=rule, message=message, message_en=message_en)


def moved_away(current: str) -> str:
    """What a 409 on a move says: the case moved meanwhile."""
    return (
        "Ce changement n’est plus possible : le dossier est maintenant "
        f"« {status_label(current)[0]} ». Les actions possibles sont à jour ci-dessous."
    )


def and_list(items: Iterable[str]) -> str:
    """Items as a French sentence lists them: "A", "A et B", "A, B et C"."""
    words = list(items)
    return ", ".join(words[:-1]) + " et " + words[-1] if len(words) > 1 else "".join(words)


def cluster_basis(basis: Mapping[str, Any] | None) -> str:
    """Why the rule suggested two cases, in French."""
    if not basis:
        return ""
    days = int(basis.get("days_apart", 0))
    apart = (
        "épisodes survenus le même jour"
        if days == 0
        else f"épisodes survenus à {days} jour{'s' if days > 1 else ''} d’écart"
    )
    place = (
        "même établissement"
        if basis.get("same_establishment")
        else "même département"
        if basis.get("same_departement")
        else "départements " + and_list(sorted(basis.get("departements", [])))
    )
    return f"{basis.get('organism', '')} {basis.get('mechanism_family', '')}, {place}, {apart}"


class CasesUnavailable(ServiceUnavailable):
    message = "La gestion des dossiers du CPias ne répond pas pour le moment."
    message_en = "The CPias cases service does not answer."


# -- the fields of each form, as partials/fields.html draws them ---------------------------

ANONYMOUS = (
    "Sans nom, date de naissance ni numéro de sécurité sociale d’un patient (article R1413-80)."
)

NOTE_FIELDS = (
    Field("kind", "Type de note", "select", options=tuple(NOTE_KINDS.items())),
    Field("text", "Note", "textarea", hint=ANONYMOUS),
)
MOVE_FIELDS = (
    Field(
        "reason", "Commentaire du changement de statut", "textarea", optional=True, hint=ANONYMOUS
    ),
)
CLOSE_FIELDS = (
    Field(
        "outcome",
        "Issue du dossier",
        "radios",
        options=tuple((k, outcome_label(k)) for k in OUTCOMES),
    ),
    Field("reason", "Commentaire de clôture", "textarea", optional=True, hint=ANONYMOUS),
)
LINK_FIELDS = (
    Field(
        "reference",
        "Référence du dossier à lier",
        "text",
        hint="Par exemple IAS-2026-84-000012.",
        maxlength=32,
    ),
    Field("kind", "Nature du lien", "radios", options=tuple(LINK_KINDS.items())),
    Field("reason", "Motif du lien", "textarea", optional=True, hint=ANONYMOUS),
)
DECIDE_FIELDS = (
    Field(
        "name",
        "Nom du regroupement",
        "text",
        optional=True,
        hint="Par défaut : ce que les cas partagent (micro-organisme, mécanisme, département, "
        "mois). Sans donnée sur un patient.",
        maxlength=200,
    ),
)


def assign_fields(me: Person, colleagues: list[Person]) -> tuple[Field, ...]:
    options = (
        (ME, f"Moi-même ({me.display_name})"),
        *((p.subject, p.display_name) for p in colleagues if p.subject != me.subject),
        (NOBODY, "Personne"),
    )
    return (Field("assignee", "Attribuer le dossier à", "select", options=options),)


@dataclass
class CaseFields:
    """One form of a case's page seen as partials/fields.html asks: each field's definition,
    id, value (what was posted, else `defaults`) and problems."""

    form: CaseForm
    name: str
    fields: tuple[Field, ...]
    target: str = ""
    defaults: Mapping[str, str] = field(default_factory=dict)
    readonly: frozenset[str] = frozenset()

    def f(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def id(self, name: str) -> str:
        return dom_id(f"{self.name}-{self.target}-{name}")

    def value(self, name: str) -> str:
        return self.form.value(self.name, name, self.defaults.get(name, ""), self.target)

    def errors(self, name: str) -> list[Problem]:
        return self.form.errors(self.name, name, self.target)

    def general(self) -> list[Problem]:
        return self.form.general(self.name, self.target)

    def options(self, name: str) -> tuple[tuple[str, str], ...]:
        return self.f(name).options

    def checked(self, name: str, option: str = "on") -> bool:
        return self.value(name) == option
