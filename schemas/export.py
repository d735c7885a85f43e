"""JSON Schema files of the contracts, for other teams' systems (`iaspipe schemas export`)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.answers import (
    AuditPage,
    CaseDetail,
    CaseFigures,
    CasePage,
    ClusterPage,
    ClusterView,
    ComplementAccepted,
    DeclarationBreakdown,
    DeclarationPage,
    DeclarationView,
    LineListPage,
    NoteView,
    ThresholdAlerts,
    WeeklyFigures,
)
from schemas.declaration import Complement, Declaration, DeclarationAccepted
from schemas.events import EVENT_MODELS, Envelope
from schemas.notifications import (
    AddressBook,
    ArsAddressIn,
    ArsAddressView,
    CpiasAddressIn,
    CpiasAddressView,
    NotificationPage,
)
from schemas.problems import ProblemReport

JSON_DIR = Path(__file__).parent / "json"

MODELS: dict[str, type[BaseModel]] = {
    "Declaration": Declaration,
    "Complement": Complement,
    "DeclarationAccepted": DeclarationAccepted,
    "DeclarationView": DeclarationView,
    "DeclarationPage": DeclarationPage,
    "ComplementAccepted": ComplementAccepted,
    "CasePage": CasePage,
    "CaseDetail": CaseDetail,
    "NoteView": NoteView,
    "ClusterPage": ClusterPage,
    "ClusterView": ClusterView,
    "ThresholdAlerts": ThresholdAlerts,
    "WeeklyFigures": WeeklyFigures,
    "DeclarationBreakdown": DeclarationBreakdown,
    "LineListPage": LineListPage,
    "CaseFigures": CaseFigures,
    "AuditPage": AuditPage,
    "AddressBook": AddressBook,
    "CpiasAddressIn": CpiasAddressIn,
    "CpiasAddressView": CpiasAddressView,
    "ArsAddressIn": ArsAddressIn,
    "ArsAddressView": ArsAddressView,
    "NotificationPage": NotificationPage,
    "ProblemReport": ProblemReport,
    "Envelope": Envelope,
    **EVENT_MODELS,
}


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
