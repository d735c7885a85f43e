"""The content rule: every template, text and HTML, rendered from a declaration whose free
texts are all marked, shows none of them and nothing about a patient; the file sender
writes one .eml per message and logs one line without its body."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas.declaration import Declaration
from schemas.events import (
    CaseStatusChanged,
    Envelope,
    Milestone,
    NotificationKind,
    NotificationRequested,
    RoutingDecided,
    decode,
)
from schemas.reference import reference
from services.cpias import notices as cpias_notices
from services.cpias.domain.cases import Case
from services.intake.domain import notices as intake_notices
from services.intake.domain.records import DeclarationRecord
from services.notifier.adapters.mail import FileSender, to_email
from services.notifier.adapters.templates import KINDS, TEMPLATES, JinjaRenderer
from services.notifier.domain.content import digest_facts, facts_of
from services.notifier.ports import Mail
from services.notifier.settings import default_audiences
from services.router.domain.decide import decide
from tests.events import ROUTING
from tests.factories import make_declaration

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
PORTAL = "https://portail.signalement-ias.example"


def marked_declaration() -> dict[str, Any]:
    """The C. auris sample (urgent) with a device, a drug and the other products, every
    free text replaced by a marker no template could write by chance."""
    product = {"already_declared": False}
    return make_declaration(
        "candida_auris_paris_device",
        declarant__phone="+33 1 99 88 77 66",
        declarant__function="TEMOIN-FONCTION",
        establishment__unit="TEMOIN-UNITE",
        infection__nature="TEMOIN-NATURE",
        infection__circumstances="TEMOIN-CIRCONSTANCES",
        infection__pathogens=[
            {"species": "Candida auris TEMOIN-ESPECE", "mechanism": "TEMOIN-MECA"}
        ],
        products={
            kind: {"description": f"TEMOIN-PRODUIT-{kind}", **product}
            for kind in ("medical_device", "ivd", "drug", "blood_product", "tissue_or_cells")
        },
        investigations="TEMOIN-INVESTIGATIONS",
        initial_measures="TEMOIN-MESURES",
    )


COMPLEMENT = {
    "cause_analysis": "TEMOIN-ANALYSE",
    "action_plan": [{"action": "TEMOIN-ACTION", "due_date": "2027-01-31"}],
}


def free_texts(body: dict[str, Any]) -> list[str]:
    """Every free text of the declaration and its complement, and the declarant's phone."""
    infection = body["infection"]
    texts = [
        infection["nature"],
        infection["circumstances"],
        body["investigations"],
        body["initial_measures"],
        body["establishment"]["unit"],
        body["declarant"]["phone"],
        body["declarant"]["function"],
        body["declarant"]["name"],
        COMPLEMENT["cause_analysis"],
        *(a["action"] for a in COMPLEMENT["action_plan"]),
        *(p["species"] for p in infection["pathogens"]),
        *(p["mechanism"] for p in infection["pathogens"]),
        *(p["description"] for p in body["products"].values() if p),
    ]
    return [t for t in texts if t]


class Outbox:
    """Stands for a unit of work: keeps what is published."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    def publish(self, topic: str, key: str, event: Envelope) -> None:
        self.events.append(event)


def requests_from(body: dict[str, Any]) -> list[NotificationRequested]:
    """Every request, built by the code that builds it in intake and cpias."""
    declaration = Declaration.model_validate(body)
    decision = decide(declaration, ROUTING)
    assert decision.priority.value == "urgent" and decision.obligations
    record = DeclarationRecord(
        id=str(uuid.uuid4()),
        reference="IAS-2026-11-000042",
        region_code="11",
        year=2026,
        sequence=42,
        departement="75",
        finess="750100125",
        status="routed",
        body=declaration.model_dump(mode="json"),
        received_at=NOW,
        event_id=str(uuid.uuid4()),
        submitted_by="claire.martin",
        routing_decision=decision.model_dump(mode="json"),
    )
    decided = RoutingDecided(
        declaration_id=record.id,
        reference=record.reference,
        kind="initial",
        source_event_id=uuid.UUID(record.event_id),
        decided_at=NOW,
        decision=decision,
    )
    closed = CaseStatusChanged(
        declaration_id=record.id,
        reference=record.reference,
        case_id=str(uuid.uuid4()),
        cpias="cpias-idf",
        milestone=Milestone.closed,
        status="closed",
        changed_at=NOW,
        reason="TEMOIN-MOTIF-CLOTURE",
        outcome="controlled",
    )
    receipt = intake_notices.requested_by(record, decided, decision_before=None)
    closing = intake_notices.requested_by(record, closed, decision_before=record.routing_decision)
    case = Case.open(
        case_id=closed.case_id,
        declaration_id=record.id,
        reference=record.reference,
        cpias="cpias-idf",
        region_code="11",
        priority="urgent",
        declaration=record.body,
        routing={"legal_basis": ["R6111-17"], "reason": "TEMOIN-RAISON", "rules_version": "v2"},
        received_at=NOW,
        now=NOW,
        ack_hours={"urgent": 4, "high": 24, "normal": 72},
    )
    case.add_complement(COMPLEMENT)
    outbox = Outbox()
    cpias_notices.request_new_case(outbox, case, NOW)  # type: ignore[arg-type]
    cpias_notices.request_complement(outbox, case, str(uuid.uuid4()), NOW)  # type: ignore[arg-type]
    for kind in (NotificationKind.ack_reminder, NotificationKind.ack_overdue):
        cpias_notices.request_notification(outbox, case, kind, NOW)  # type: ignore[arg-type]
    from_cpias = [decode(e.to_bytes())[1] for e in outbox.events]
    assert receipt is not None and closing is not None
    return [receipt, closing, *from_cpias]  # type: ignore[list-item]


def test_no_message_shows_a_free_text_of_the_declaration_or_anything_about_a_patient() -> None:
    body = marked_declaration()
    texts = free_texts(body)
    assert len(texts) >= 15
    requests = requests_from(body)
    for request in requests:  # nothing to leak reaches the notifier at all
        carried = request.model_dump_json()
        assert "TEMOIN" not in carried and body["declarant"]["phone"] not in carried
    renderer = JinjaRenderer()
    ref = reference()
    rendered = []
    for request in requests:
        for audience in ("declarant", "cpias", "ars"):
            facts = facts_of(request, audience, portal_url=PORTAL, ref=ref)
            rendered.append((request.kind.value, renderer.render(facts)))
    cpias_requests = [r for r in requests if r.kind.value == "new_case"] * 2
    digest = digest_facts("cpias-idf", NOW.date(), cpias_requests, portal_url=PORTAL, ref=ref)
    rendered.append(("digest", renderer.render(digest)))
    assert {kind for kind, _ in rendered} == set(KINDS)
    for kind, message in rendered:
        mail = Mail(str(uuid.uuid4()), kind, "someone@example.fr", message)
        whole = to_email(mail, "IAS <ne-pas-repondre@example.fr>").as_string()
        for output in (message.subject, message.text, message.html, whole):
            for text in texts:
                assert text not in output, (kind, text)
            assert "TEMOIN" not in output, kind
        # What a message may show is there: the test could fail.
        for shown in ("IAS-2026-11-000042", "Hôpital Exemple", "750100125", "Paris (75)"):
            assert shown in message.text and shown in message.html, (kind, shown)
        links = [w for w in message.text.split() if w.startswith("http")]
        assert links and all(
            link.startswith((f"{PORTAL}/cases/", f"{PORTAL}/declarations/")) for link in links
        ), (kind, links)


def test_every_message_is_spaced_as_french_prints_it() -> None:
    """In every kind, for every reader, text and HTML: no line can start with a lone ":",
    ";", "?", "!" or "»" (the space before them does not break), as on the portal's pages."""
    renderer = JinjaRenderer()
    ref = reference()
    requests = requests_from(marked_declaration())
    rendered = [
        renderer.render(facts_of(request, audience, portal_url=PORTAL, ref=ref))
        for request in requests
        for audience in ("declarant", "cpias", "ars")
    ]
    cpias_requests = [r for r in requests if r.kind.value == "new_case"] * 2
    rendered.append(
        renderer.render(
            digest_facts("cpias-idf", NOW.date(), cpias_requests, portal_url=PORTAL, ref=ref)
        )
    )
    spaced = 0
    for message in rendered:
        for output in (message.text, re.sub(r"<[^>]*>", "", message.html)):
            assert not re.search(r"[ \t\n][:;?!](\s|$)|« | »", output), output
            spaced += output.count("\u00a0:")
    assert spaced >= len(rendered)  # each message has a label and its colon at least


def test_every_template_is_used_and_has_text_and_html() -> None:
    names = {p.name for p in TEMPLATES.iterdir() if not p.name.startswith(("_", "base"))}
    assert names == {f"{kind}.{ext}" for kind in KINDS for ext in ("txt", "html")}
    assert set(default_audiences()) | {"digest"} == set(KINDS)


def test_the_receipt_names_the_recipients_and_what_is_still_owed() -> None:
    receipt = requests_from(marked_declaration())[0]
    facts = facts_of(receipt, "declarant", portal_url=PORTAL, ref=reference())
    text = JinjaRenderer().render(facts).text
    for expected in (
        "Agence régionale de santé Île-de-France",
        "Santé publique France",
        "CPias Île-de-France",
        "Agence nationale de sécurité du médicament (ANSM)",
        "L5212-2",
        "L5222-3",
        f"{PORTAL}/declarations/{receipt.declaration_id}",
    ):
        assert expected in text, expected


def test_the_receipt_says_what_is_owed_without_a_detail_of_the_infection() -> None:
    """A death and an urgent notifiable disease (the Brest legionellosis): the receipt lists
    the EIGS and the nominative report still owed, with their articles, but names neither the
    disease nor the death; the decision's own words stay on the portal page."""
    body = make_declaration("legionella_death_ehpad_brest")
    receipt = requests_from(body)[0]
    owed = {o.rule for o in receipt.obligations}
    assert owed == {"notifiable_disease_report_ars", "serious_adverse_event_ars"}
    assert any("égionellose" in o.message for o in receipt.obligations)  # the decision's words
    for audience in ("declarant", "cpias", "ars"):
        message = JinjaRenderer().render(
            facts_of(receipt, audience, portal_url=PORTAL, ref=reference())
        )
        for output in (message.text, message.html):
            assert "maladie à déclaration obligatoire" in output
            assert "(EIGS)" in output and "R1413-67, R1413-68" in output and "L3113-1" in output
            for detail in ("égionell", "décès", "Décès", "Legionella"):
                assert detail not in output, (audience, detail)


def test_each_reader_gets_a_link_to_a_page_they_may_open() -> None:
    """The CPias team works the case (/cases, its queue); the declarant and the ARS read the
    declaration (/declarations, where the ARS's line list leads: the queue is not theirs)."""
    overdue = next(r for r in requests_from(marked_declaration()) if r.kind.value == "ack_overdue")
    pages = {}
    for audience in ("declarant", "cpias", "ars"):
        message = JinjaRenderer().render(
            facts_of(overdue, audience, portal_url=PORTAL, ref=reference())
        )
        pages[audience] = [w for w in message.text.split() if w.startswith("http")]
        assert pages[audience][0] in message.html
    assert pages == {
        "declarant": [f"{PORTAL}/declarations/{overdue.declaration_id}"],
        "cpias": [f"{PORTAL}/cases/{overdue.case_id}"],
        "ars": [f"{PORTAL}/declarations/{overdue.declaration_id}"],
    }


def test_the_deadline_is_shown_on_the_clock_of_the_departement() -> None:
    request = requests_from(marked_declaration())[2]  # the new case: Paris, urgent, 4 hours
    text = JinjaRenderer().render(facts_of(request, "cpias", portal_url=PORTAL, ref=reference()))
    assert "23/11/2026 à\u00a014\u00a0h\u00a000 (heure de Paris)" in text.text
    reunion = request.model_copy(
        update={"establishment": request.establishment.model_copy(update={"departement": "974"})}
    )
    text = JinjaRenderer().render(facts_of(reunion, "cpias", portal_url=PORTAL, ref=reference()))
    assert "23/11/2026 à\u00a017\u00a0h\u00a000 (heure de La Réunion)" in text.text


def test_the_file_sender_writes_one_eml_and_logs_one_line_without_the_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = requests_from(marked_declaration())[0]
    rendered = JinjaRenderer().render(
        facts_of(request, "declarant", portal_url=PORTAL, ref=reference())
    )
    mail = Mail("4f5e0b5e-1111-4c3d-9b0a-8f1e2d3c4b5a", "receipt", "claire@chu.example", rendered)
    sender = FileSender(tmp_path / "mail", "Signalement IAS <ne-pas-repondre@ias.example>")
    sender.send(mail)
    sender.send(mail)  # again, after a crash before it was recorded: still one file
    [path] = list((tmp_path / "mail").iterdir())
    assert path.name == f"{mail.message_id}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Message-ID"] == f"<{mail.message_id}@ias.example>"
    assert message["To"] == "claire@chu.example"
    assert message["Subject"] == rendered.subject
    assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}
    lines = [r.getMessage() for r in caplog.records if "mail" in r.name]
    assert len(lines) == 2 and mail.message_id in lines[0]
    for text in (rendered.subject, request.reference, "claire@chu.example", "Madame"):
        assert text not in caplog.text
