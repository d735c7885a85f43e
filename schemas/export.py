"""JSON Schema files of the contracts, for other teams' systems (`iaspipe schemas export`)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas import answers, declaration, notifications
from schemas.events import EVENT_MODELS, Envelope
from schemas.problems import ProblemReport

JSON_DIR = Path(__file__).parent / "json"

EXPORTED: tuple[type[BaseModel], ...] = (
    declaration.Declaration,
    declaration.Complement,
    declaration.DeclarationAccepted,
    answers.DeclarationView,
    answers.DeclarationPage,
    answers.ComplementAccepted,
    answers.CasePage,
    answers.CaseDetail,
    answers.NoteView,
    answers.ClusterPage,
    answers.ClusterView,
    answers.ThresholdAlerts,
    answers.WeeklyFigures,
    answers.DeclarationBreakdown,
    answers.LineListPage,
    answers.CaseFigures,
    answers.AuditPage,
    notifications.AddressBook,
    notifications.CpiasAddressIn,
    notifications.CpiasAddressView,
    notifications.CpiasAddressChanged,
    notifications.ArsAddressIn,
    notifications.ArsAddressView,
    notifications.ArsAddressChanged,
    notifications.NotificationPage,
    ProblemReport,
    Envelope,
)
MODELS: dict[str, type[BaseModel]] = {model.__name__: model for model in EXPORTED} | EVENT_MODELS


def render() -> dict[str, str]:
    """File name -> JSON text for every exported model."""
    return {
        f"{name}.v1.schema.json": json.dumps(
            model.model_json_schema(), indent=2, ensure_ascii=False, sort_keys=True
        )
        + "\n"
        for name, model in MODELS.items()
    }


def export(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = JSON_DIR) -> list[str]:
    """Names of files that are missing or differ from what the models produce."""
    expected = render()
    out = [
        n
        for n, t in expected.items()
        if not (directory / n).exists() or (directory / n).read_text(encoding="utf-8") != t
    ]
    extra = {p.name for p in directory.glob("*.schema.json")} - set(expected)
    return sorted(out + list(extra))
