"""The regional dashboard's rules, without I/O (docs/ars.md): which region a person sees, the
line list's filters as asked, the weekly chart as SVG geometry, and the CSV export's rows."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from iaspipe.principal import Role
from schemas.answers import (
    CaseFigures,
    DeclarationBreakdown,
    LineListRow,
    WeekFigures,
    WeeklyFigures,
)
from schemas.organisms import C_AURIS
from schemas.problems import Problem
from schemas.reference import ReferenceData, time_zone_name
from services.portal.domain import labels
from services.portal.domain.accounts import Person

CRITERIA = ("1a", "1b", "2", "3", "4")
# Resistances as analysts write them, short enough for a table cell.
RESISTANCES = {
    "cpe": "EPC",
    "gre": "ERG",
    "mrsa": "SARM",
    "esbl": "EBLSE",
    "carbapenem_resistant_acinetobacter": "A. baumannii R carbapénèmes",
    "carbapenem_resistant_pseudomonas": "P. aeruginosa R carbapénèmes",
    "other": "Autre résistance",
}
PATHOGEN_LENGTH = 120
# A declaration's status as the ARS pages say it. Once the CPias has opened its dossier,
# intake follows the dossier's milestones (services/intake/domain/timeline.py), so the status
# is the dossier's, said in the words of the dashboard's case figures: a dossier the CPias has
# received but not acknowledged is "pas encore pris en compte" there, so its declaration is
# "Pas encore prise en compte" here rather than "Reçue par le CPias". (French, DSFR badge.)
STATUSES = {
    **labels.STATUSES,
    "received_by_cpias": ("Pas encore prise en compte", "new"),
}


def viewed_region(person: Person, asked: str | None, regions: Collection[str]) -> str | None:
    """The region a person's dashboard shows: an ARS viewer's own, whatever it asks; for an
    admin the region asked, if it is one (None: the admin has to choose)."""
    if person.role is Role.ars_viewer:
        return person.region
    if person.is_admin and asked in regions:
        return asked
    return None


def region_names(ref: ReferenceData) -> dict[str, str]:
    """INSEE code -> name of every region, in the order of their names."""
    names = {d.region_code: d.region_name for d in ref.departements.values()}
    return dict(sorted(names.items(), key=lambda kv: kv[1]))


def departements_of(region: str | None, ref: ReferenceData) -> dict[str, str]:
    """Code -> "69 — Rhône" of a region's départements, in code order."""
    return {
        code: name
        for code, name in departement_names(ref).items()
        if ref.departements[code].region_code == region
    }


def departement_names(ref: ReferenceData) -> dict[str, str]:
    """Code -> "69 — Rhône" of every département, in code order (a cluster's cases may be
    of other regions)."""
    return {
        d.code: f"{d.code} — {d.name}"
        for d in sorted(ref.departements.values(), key=lambda d: d.code)
    }


def status_label(status: str) -> tuple[str, str]:
    """(French label, DSFR badge kind) of a declaration's status in the line list and its
    export (STATUSES)."""
    return STATUSES.get(status, labels.status_label(status))


def priority_label(priority: str | None) -> tuple[str, str]:
    """(French label, DSFR badge kind); not routed yet without a priority."""
    if priority is None:
        return ("Pas encore routée", "info")
    return labels.PRIORITIES.get(priority, (priority, "info"))


# -- the line list's filters -----------------------------------------------------------------

FILTERS = (
    "since",
    "until",
    "departement",
    "criterion",
    "priority",
    "status",
    "pathogen",
    "mechanism",
    "resistance",
)


def _date(value: str) -> dt.date | None:
    """ISO (what a date field sends) or jj/mm/aaaa (typed where there is no date field)."""
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class ListFilters:
    """The line list's filters as asked: each "" means any. A value that cannot be asked for
    is left out and its problem kept, in French, to show beside its field."""

    since: str = ""
    until: str = ""
    departement: str = ""
    criterion: str = ""
    priority: str = ""
    status: str = ""
    pathogen: str = ""
    mechanism: str = ""
    resistance: str = ""
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, asked: Mapping[str, str], departements: Collection[str]) -> ListFilters:
        values: dict[str, str] = {}
        problems: dict[str, str] = {}
        for name in FILTERS:
            value = (asked.get(name) or "").strip()
            if not value:
                continue
            problem = _problem(name, value, departements)
            if problem:
                problems[name] = problem
            elif name in ("since", "until"):
                values[name] = str(_date(value))
            else:
                values[name] = value
        since, until = values.get("since"), values.get("until")
        if since and until and since > until:
            problems["until"] = "La date de fin précède la date de début."
            del values["until"]
        return cls(**values, problems=problems)

    def refused(self, problems: Iterable[Problem]) -> ListFilters:
        """These filters, with the problems a service found in them beside the fields they
        name (a problem of no filter stands beside the start date: the period)."""
        found = dict(self.problems)
        for p in problems:
            found.setdefault(p.path if p.path in FILTERS else "since", p.message)
        return replace(self, problems=found)

    def query(self) -> dict[str, str]:
        """The filters asked, as query parameters (of intake's line list, and of links)."""
        return {name: getattr(self, name) for name in FILTERS if getattr(self, name)}

    @property
    def any(self) -> bool:
        return bool(self.query())


@dataclass(frozen=True)
class LinePage:
    """Which page of the line list to ask for: `limit` rows after `offset` others, or after
    the row `cursor` names; with the count of all matches only when `count`."""

    limit: int
    offset: int = 0
    cursor: str | None = None
    count: bool = True


def _problem(name: str, value: str, departements: Collection[str]) -> str | None:
    if name in ("since", "until"):
        day = _date(value)
        if day is None or day.year < 2000:
            return "Date invalide : saisissez-la au format jj/mm/aaaa."
        return None
    known: dict[str, Collection[str]] = {
        "departement": departements,
        "criterion": CRITERIA,
        "priority": labels.PRIORITIES,
        "status": STATUSES,
        "resistance": RESISTANCES,
    }
    if name in known and value not in known[name]:
        return "Choisissez une valeur de la liste."
    if name in ("pathogen", "mechanism") and len(value) > PATHOGEN_LENGTH:
        return f"Au plus {PATHOGEN_LENGTH} caractères."
    return None


# -- the weekly chart ------------------------------------------------------------------------

WIDTH, HEIGHT = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 944, 20, 288


@dataclass(frozen=True)
class Series:
    criterion: str
    label: str
    points: str  # "x,y x,y ..." of an SVG polyline
    total: int


@dataclass(frozen=True)
class Tick:
    at: float
    label: str
    detail: str = ""


@dataclass(frozen=True)
class WeekRow:
    """A row of the chart's table: the week, its dates, its counts."""

    iso_week: str
    label: str
    monday: dt.date
    total: int
    counts: dict[str, int]


@dataclass(frozen=True)
class Bar:
    """A week's declarations, as an SVG rectangle; `partial` for this week's, still going on
    (drawn hatched)."""

    x: float
    y: float
    width: float
    height: float
    partial: bool = False


@dataclass(frozen=True)
class Mark:
    """A word written on the chart: "en cours" over this week's bar."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rows: list[WeekRow]
    title: str
    description: str
    total: int
    current: str  # this week, the last one, still going on: "S49 2026" ("" without weeks)
    current_mark: Mark | None
    current_bar: bool = False  # this week has declarations: its bar is drawn, hatched


def week_label(monday: dt.date) -> str:
    """2026-11-23 -> "S48 2026" (ISO week and its year)."""
    year, week, _ = monday.isocalendar()
    return f"S{week:02d} {year}"


def nice_scale(largest: int) -> tuple[int, int]:
    """(top, step) of a y axis that holds `largest`, with at most five steps of 1, 2 or 5
    times a power of ten."""
    if largest <= 0:
        return 4, 1
    for power in range(0, 12):
        for unit in (1, 2, 5):
            step = unit * 10**power
            if largest / step <= 5:
                return step * math.ceil(largest / step), step
    return largest, largest  # pragma: no cover - beyond any count of declarations


def weekly_chart(weekly: WeeklyFigures, place: str | None = None) -> Chart:
    """The declarations of each week as bars (an epidemic curve), one line per criterion
    over them, their axes, and the same numbers as rows for the table beside the chart;
    `place` names the département shown, when the chart is one département's."""
    weeks = weekly.weeks
    n = max(len(weeks), 1)
    band = (RIGHT - LEFT) / n
    counts = [[w.by_criterion.get(c, 0) for w in weeks] for c in CRITERIA]
    top, step = nice_scale(max((w.total for w in weeks), default=0))

    def x(i: int) -> float:
        return LEFT + band * (i + 0.5)

    def y(value: int) -> float:
        return BOTTOM - (BOTTOM - TOP) * value / top

    bars = [
        Bar(
            x(i) - band * 0.35,
            y(w.total),
            band * 0.7,
            BOTTOM - y(w.total),
            partial=i == len(weeks) - 1,
        )
        for i, w in enumerate(weeks)
        if w.total
    ]
    # The last week is this one (WeeklyFigures): its bar is partial, and says so above it.
    current_mark = Mark(float(RIGHT), y(weeks[-1].total) - 6, "en cours") if weeks else None
    series = [
        Series(
            criterion=c,
            label=labels.CRITERIA_CODES[c],
            points=" ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values)),
            total=sum(values),
        )
        for c, values in zip(CRITERIA, counts, strict=True)
    ]
    y_ticks = [Tick(y(v), str(v)) for v in range(0, top + 1, step)]
    x_ticks = []
    last_year = None
    for i, w in enumerate(weeks):
        year, number, _ = w.week.isocalendar()
        # The first week, then every fourth week ending on this one; the year under the
        # first week shown of each year.
        if i == 0 or (i % 4 == (len(weeks) - 1) % 4 and i > 2):
            x_ticks.append(Tick(x(i), f"S{number:02d}", str(year) if year != last_year else ""))
            last_year = year
    rows = [
        WeekRow(w.iso_week, week_label(w.week), w.week, w.total, dict(w.by_criterion))
        for w in reversed(weeks)
    ]
    return Chart(
        WIDTH,
        HEIGHT,
        LEFT,
        RIGHT,
        TOP,
        BOTTOM,
        bars,
        series,
        y_ticks,
        x_ticks,
        rows,
        title="Déclarations par semaine et par critère"
        + (f", département {place}" if place else ""),
        description=_describe(weeks, counts),
        total=sum(w.total for w in weeks),
        current=week_label(weeks[-1].week) if weeks else "",
        current_mark=current_mark,
        current_bar=bool(weeks and weeks[-1].total),
    )


def _describe(weeks: Sequence[WeekFigures], counts: list[list[int]]) -> str:
    if not weeks:
        return "Aucune semaine."
    first, last = week_label(weeks[0].week), week_label(weeks[-1].week)
    totals = [w.total for w in weeks]
    peak = max(totals)
    parts = [
        f"Déclarations reçues chaque semaine, en barres, de la semaine {first} à la semaine "
        f"{last} : {sum(totals)} au total"
        + (
            f", au plus {peak} en une semaine ({week_label(weeks[totals.index(peak)].week)})."
            if peak
            else "."
        ),
        "Une courbe par critère de l’article R1413-79 :",
    ]
    for c, values in zip(CRITERIA, counts, strict=True):
        top = max(values, default=0)
        label = labels.CRITERIA_CODES[c]
        if top:
            at = week_label(weeks[values.index(top)].week)
            parts.append(f"critère {label}, {sum(values)} au total, au plus {top} ({at}) ;")
        else:
            parts.append(f"critère {label}, aucune ;")
    parts[-1] = parts[-1].rstrip(" ;") + "."
    shown = "sa barre est hachurée" if weeks[-1].total else "aucune déclaration pour l’instant"
    parts.append(
        f"La semaine {last}, la dernière, est en cours : ses nombres sont partiels ({shown})."
    )
    parts.append("Les mêmes nombres figurent dans le tableau qui suit.")
    return " ".join(parts)


# -- the CSV export --------------------------------------------------------------------------

CSV_SEPARATOR = ";"
BOM = "\ufeff"
# A cell a spreadsheet would read as a formula is written as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _date_fr(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _joined(values: Iterable[str]) -> str:
    return ", ".join(values)


def csv_columns(
    ref: ReferenceData, zone: ZoneInfo
) -> list[tuple[str, Callable[[LineListRow], str | int]]]:
    """The export's columns: (heading, value of a row). What the line list holds: no free text
    of the declaration, nothing about the declarant. Times are on `zone`'s clock (the
    region's), named in the heading: the file travels."""
    return [
        ("Référence", lambda r: r.reference),
        (
            f"Reçue le ({time_zone_name(zone)})",
            lambda r: r.received_at.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
        ),
        ("Début des signes", lambda r: _date_fr(r.onset_date)),
        ("Détection", lambda r: _date_fr(r.detection_date)),
        ("Dernier cas", lambda r: _date_fr(r.last_case_date)),
        ("FINESS", lambda r: r.finess or ""),
        ("Établissement", lambda r: r.establishment_name),
        ("Type d’établissement", lambda r: r.establishment_kind),
        ("Département", lambda r: r.departement),
        ("Critères", lambda r: labels.criteria_codes(r.criteria)),
        ("Micro-organismes", lambda r: _joined(r.pathogens)),
        ("Résistances", lambda r: _joined(RESISTANCES.get(x, x) for x in r.resistances)),
        ("Mécanismes", lambda r: _joined(r.mechanisms)),
        ("Cas infectés", lambda r: r.cases_infected),
        ("Cas colonisés", lambda r: r.cases_colonised),
        ("Décès", lambda r: r.deaths),
        ("Priorité", lambda r: priority_label(r.priority)[0]),
        ("Statut", lambda r: status_label(r.status)[0]),
        ("Destinataires", lambda r: _joined(labels.recipient_name(x, ref) for x in r.recipients)),
    ]


def _cell(value: str | int) -> str:
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    if any(c in text for c in (CSV_SEPARATOR, '"', "\n", "\r")):
        text = '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: Iterable[str | int]) -> str:
    return CSV_SEPARATOR.join(_cell(c) for c in cells) + "\r\n"


def csv_lines(
    rows: Iterable[LineListRow], ref: ReferenceData, zone: ZoneInfo = labels.PARIS
) -> Iterator[str]:
    """The export, line by line: a byte order mark (so that a spreadsheet reads UTF-8), the
    headings, then one line per declaration; `;` between cells (what French spreadsheets
    expect), quoted when needed."""
    columns = csv_columns(ref, zone)
    yield BOM + csv_line(heading for heading, _ in columns)
    for row in rows:
        yield csv_line(value(row) for _, value in columns)


# -- words and numbers as an analyst reads them ---------------------------------------------

MECHANISMS = {"MRSA": "SARM", "C. auris": "Candida auris"}
# The mechanism breakdown counts the families the CPias's cluster rule compares: the
# carbapenemases and glycopeptide resistances are mechanisms; MRSA is a resistant phenotype
# (to methicillin), whatever its mechanism, and says so where the families are listed.
PHENOTYPES = {"MRSA": "SARM (phénotype)"}
CRITERIA_SHORT = {
    "1a": "micro-organisme inhabituel",
    "1b": "localisation ou circonstances inhabituelles",
    "2": "cas groupés",
    "3": "décès",
    "4": "maladie à déclaration obligatoire",
}


@dataclass(frozen=True)
class KeyFigure:
    """A headline card of the dashboard: its figure and what it counts, over which period."""

    heading: str
    figure: str
    detail: str


def key_figures(
    breakdown: DeclarationBreakdown, cases: CaseFigures, clusters: int
) -> list[KeyFigure]:
    """The dashboard's headline cards, each with its own period said: the declarations of the
    chart's weeks, the cases open today, the acknowledgement times since the chart's first
    Monday, the confirmed clusters whatever their dates."""
    declared = breakdown.total
    open_ = sum(c.open for c in cases.by_cpias)
    waiting = sum(c.new for c in cases.by_cpias)
    overdue = sum(c.overdue for c in cases.by_cpias)
    ack = cases.acknowledgement
    since = _date_fr(ack.since)
    late = f"parmi lesquels {number_fr(overdue)} en retard" if overdue else "aucun en retard"
    if ack.acknowledged:
        delay = (
            "de la déclaration à sa prise en compte par le CPias, pour "
            + (
                "le dossier pris en compte"
                if ack.acknowledged == 1
                else f"les {number_fr(ack.acknowledged)} dossiers pris en compte"
            )
            + f" depuis le {since} ; 90 % en moins de {duration_fr(ack.p90_hours)}"
        )
    else:
        delay = f"aucun dossier pris en compte depuis le {since}"
    return [
        KeyFigure(
            "Déclarations",
            number_fr(declared),
            ("reçue" if declared == 1 else "reçues")
            + f" {period_fr(breakdown.since, breakdown.until)}",
        ),
        KeyFigure(
            "Dossiers en cours",
            number_fr(open_),
            "à ce jour, quelle que soit leur date ; "
            + (
                f"dont {number_fr(waiting)} pas encore pris en compte, {late}"
                if waiting
                else "tous pris en compte"
            ),
        ),
        KeyFigure("Délai médian", duration_fr(ack.median_hours), delay),
        KeyFigure(
            "Regroupements",
            number_fr(clusters),
            ("confirmé" if clusters == 1 else "confirmés")
            + " par les CPias à ce jour, quelle que soit la date de leurs épisodes : cas "
            "groupés entre établissements",
        ),
    ]


def mechanism_label(family: str) -> str:
    return MECHANISMS.get(family, family)


def mechanism_choice(family: str) -> str:
    """A family as the mechanism breakdown and filter list it: a phenotype said as one."""
    return PHENOTYPES.get(family) or mechanism_label(family)


def number_fr(value: int) -> str:
    """12345 -> "12 345" (a narrow no-break space between thousands)."""
    return f"{value:,}".replace(",", "\u202f")


def duration_fr(hours: float | None) -> str:
    """5.0 -> "5 h"; 26.5 -> "26,5 h"; 80 -> "3,3 jours"; None -> "—"."""
    if hours is None:
        return "—"
    value, unit = (hours / 24, " jours") if hours >= 48 else (hours, " h")
    return f"{value:.1f}".removesuffix(".0").replace(".", ",") + unit


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page numbers a pagination shows: the first, the last, the current one and its
    neighbours; None where pages are left out (an ellipsis)."""
    shown = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


def resistance_text(row: LineListRow) -> str:
    """ "EPC, OXA-48": the resistances ticked and the mechanism families named."""
    return _joined(
        dict.fromkeys(
            [RESISTANCES.get(r, r) for r in row.resistances]
            + [mechanism_label(m) for m in row.mechanisms]
        )
    )


def filter_options(
    pathogens: Iterable[str], mechanisms: Iterable[str] = ()
) -> dict[str, list[tuple[str, str]]]:
    """The choices of the line list's filters (the départements come with the region)."""
    return {
        "criteria_options": [
            (c, f"{labels.CRITERIA_CODES[c]} — {CRITERIA_SHORT[c]}") for c in CRITERIA
        ],
        "priority_options": labels.badge_choices(labels.PRIORITIES),
        "status_options": labels.badge_choices(STATUSES),
        "pathogen_options": [(p, p) for p in pathogens],
        "mechanism_options": [(m, mechanism_choice(m)) for m in mechanisms],
        "resistance_options": list(RESISTANCES.items()),
    }


def alert_query(departement: str, family: str) -> dict[str, str]:
    """The line list's filters that show the declarations behind a threshold alert: its
    département and its mechanism family (Candida auris, counted as a micro-organism, by its
    name)."""
    if family == C_AURIS:
        return {"departement": departement, "pathogen": MECHANISMS[C_AURIS]}
    return {"departement": departement, "mechanism": family}


def spread_beyond_window(first: dt.date, last: dt.date, window_days: int) -> bool:
    """An alert whose episodes span more than its window: raised when N episodes fell within
    the window, then extended by each later window that reached the threshold again and
    overlapped it (docs/clusters.md, threshold alerts)."""
    return (last - first).days > window_days


def period_fr(first: dt.date, last: dt.date) -> str:
    """ "le 02/12/2026", or "du 06/11/2026 au 02/12/2026"."""
    if first == last:
        return f"le {_date_fr(first)}"
    return f"du {_date_fr(first)} au {_date_fr(last)}"
