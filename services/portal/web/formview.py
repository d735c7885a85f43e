"""What a form template asks about each field: its definition, value, id, problems, choices,
and whether a conditional part is shown. Templates stay declarative; the rules stay in
domain/form.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.problems import Problem
from schemas.reference import ReferenceData
from services.portal.domain import form
from services.portal.domain.form import Field, FormData, Placed, Step, dom_id


def choices(name: str, ref: ReferenceData) -> tuple[tuple[str, str], ...]:
    f = form.field(name)
    if name == "establishment.departement":
        return tuple((d.code, f"{d.code} — {d.name}") for d in ref.departements.values())
    if name == "infection.notifiable_disease":
        diseases = sorted(ref.diseases.values(), key=lambda d: d.name_fr)
        return tuple((d.code, d.name_fr) for d in diseases)
    return f.options


@dataclass(frozen=True)
class Row:
    """A line of a declaration laid out for reading."""

    name: str
    label: str
    value: str
    errors: list[Problem]


@dataclass
class FormView:
    data: FormData
    ref: ReferenceData
    placed: list[Placed] = field(default_factory=list)
    readonly: frozenset[str] = frozenset()
    # Where the steps live (/declarations/new/<draft>) and which one is shown, for links.
    base_url: str = ""
    current: str = ""

    def f(self, name: str) -> Field:
        return form.field(name)

    def id(self, name: str) -> str:
        return dom_id(name)

    def anchor(self, name: str) -> str:
        """Where a link to the field lands: the input, or a group's first input."""
        kind = form.field(name).kind
        if kind in ("checkboxes", "radios"):
            return f"{dom_id(name)}-1"
        return dom_id(name)

    def value(self, name: str) -> str:
        value = self.data.get(name, "")
        return value if isinstance(value, str) else ""

    def checked(self, name: str, option: str = "on") -> bool:
        value = self.data.get(name, "")
        return option in value if isinstance(value, list) else value == option

    def errors(self, name: str) -> list[Problem]:
        return [p.problem for p in self.placed if p.field == name]

    def options(self, name: str) -> tuple[tuple[str, str], ...]:
        return choices(name, self.ref)

    def shown(self, name: str) -> bool:
        return form.is_shown(self.data, form.field(name))

    def rows(self) -> range:
        return range(form.rows(self.data))

    def more_rows(self) -> bool:
        """Whether another micro-organism may be added (the contract takes 50)."""
        return form.rows(self.data) < form.MAX_PATHOGENS

    def display(self, name: str) -> str:
        value = self.data.get(name)
        if name in ("establishment.departement", "infection.notifiable_disease") and value:
            return dict(self.options(name)).get(str(value), str(value))
        return form.display(name, value)

    def link(self, placed: Placed) -> str:
        """Where a problem's link leads: its field, on this page or on its step's page."""
        if placed.field is None:
            return "#problems"
        anchor = self.anchor(placed.field)
        if placed.step == self.current or not placed.step:
            return f"#{anchor}"
        return f"{self.base_url}/{placed.step}#{anchor}"

    def step_problems(self, slug: str) -> list[Placed]:
        """The problems a step's page lists at its top: its own, and those with no field."""
        return [p for p in self.placed if p.step == slug or p.field is None]

    def review_rows(self, s: Step) -> list[Row]:
        return [
            Row(name, form.review_label(name), self.display(name), self.errors(name))
            for name in form.names_of(s, self.data)
            if form.field(name).kind != "group"
            and self.shown(name)
            and not form.is_empty_row(self.data, name)
        ]

    def reminders(self) -> list[tuple[str, str]]:
        return form.reminders(self.data)

    def warnings(self) -> list[Problem]:
        return form.warnings(self.data, self.ref)

    def label(self, name: str) -> str:
        return form.review_label(name)
