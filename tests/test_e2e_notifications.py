"""End to end: the broker, the four services as processes and a real SMTP server. An urgent
declaration reaches the CPias team's mailbox within seconds, the declarant gets the receipt
then the closing message, each once, and can see what was sent and when."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import Broker
from tests.factories import load_sample
from tests.notifications import SmtpServer, body_text
from tests.pipeline import Pipeline, eventually

pytestmark = pytest.mark.e2e

WITHIN_SECONDS = 10


def test_an_urgent_declaration_reaches_the_cpias_team_and_the_declarant_by_email(
    broker: Broker, tmp_path: Path
) -> None:
    smtp = SmtpServer().start()
    p = Pipeline(
        broker,
        tmp_path,
        notifier={
            "SENDER": "smtp",
            "SMTP__HOST": "127.0.0.1",
            "SMTP__PORT": str(smtp.port),
            "SMTP__STARTTLS": "false",
            "PORTAL_URL": "https://portail.example",
            "DISPATCH_EVERY_SECONDS": "0.2",
        },
    )
    try:
        p.start("intake", "router", "cpias", "notifier")
        # "Within seconds" of a running stack: timed from once every consumer has joined its
        # group (a group's first join takes seconds of its own, once per start).
        p.wait_joined(
            {"intake": "intake", "router": "router", "cpias": "cpias", "notifier": "notifier"}
        )
        declarant = p.tokens.headers("declarant", finess="750100125", subject="claire.martin")
        body = load_sample("candida_auris_paris_device")  # C. auris: urgent, 4 hours
        started = time.monotonic()
        r = p.post("intake", "/v1/declarations", json=body, headers=declarant)
        assert r.status_code == 201, r.text
        declaration = r.json()

        team = "equipe@cpias-idf.demo.invalid"  # the stack's address book
        [alert] = eventually(lambda: smtp.inbox.to(team), timeout=30, what="the team's alert")
        elapsed = time.monotonic() - started
        assert elapsed < WITHIN_SECONDS, f"the CPias team heard of it after {elapsed:.1f}s"
        assert (
            alert["Subject"]
            == f"[URGENT] Nouveau signalement {declaration['reference']} à prendre en compte"
        )
        case = p.get("cpias", "/v1/cases", params={"declaration_id": declaration["id"]}).json()
        case_id = case["items"][0]["id"]
        assert f"https://portail.example/cases/{case_id}" in body_text(alert)

        declarant_box = body["declarant"]["email"]
        [receipt] = eventually(
            lambda: smtp.inbox.to(declarant_box), timeout=30, what="the declarant's receipt"
        )
        text = body_text(receipt)
        assert declaration["reference"] in receipt["Subject"]
        for expected in ("Santé publique France", "CPias Île-de-France", "L5212-2"):
            assert expected in text, expected
        assert f"https://portail.example/declarations/{declaration['id']}" in text

        investigator = p.tokens.headers("cpias_investigator", cpias="cpias-idf")
        for move in ("acknowledged", "investigating", "monitoring"):
            r = p.post(
                "cpias", f"/v1/cases/{case_id}/transitions", json={"to": move}, headers=investigator
            )
            assert r.status_code == 200, r.text
        r = p.post(
            "cpias",
            f"/v1/cases/{case_id}/transitions",
            json={"to": "closed", "outcome": "controlled", "reason": "Motif-de-cloture-libre"},
            headers=investigator,
        )
        assert r.status_code == 200, r.text
        eventually(
            lambda: len(smtp.inbox.to(declarant_box)) == 2, timeout=30, what="the closing message"
        )
        closing = smtp.inbox.to(declarant_box)[1]
        assert "dossier clos" in closing["Subject"]
        assert "épisode maîtrisé" in body_text(closing)

        # What the declarant's page shows: which messages, to whom, when.
        def listed() -> list[dict]:
            r = p.get(
                "notifier",
                "/v1/notifications",
                params={"declaration_id": declaration["id"]},
                headers=declarant,
            )
            assert r.status_code == 200, r.text
            return list(r.json()["items"])

        items = eventually(
            lambda: (lambda got: got if all(i["sent_at"] for i in got) else None)(listed()),
            what="every message recorded as sent",
        )
        assert sorted((i["kind"], i["to"], i["status"]) for i in items) == [
            ("case_closed", declarant_box, "sent"),
            ("new_case", None, "sent"),  # the declarant is not shown the team's mailbox
            ("receipt", declarant_box, "sent"),
        ]
        other = p.tokens.headers("declarant", finess="690781810")
        assert (
            p.get(
                "notifier",
                "/v1/notifications",
                params={"declaration_id": declaration["id"]},
                headers=other,
            ).json()["items"]
            == []
        )

        time.sleep(1)
        messages = smtp.inbox.messages
        assert len(messages) == 3  # each once
        for message in messages:  # nothing of the declaration's free text, nor the reason
            text = body_text(message)
            for free in (
                body["infection"]["nature"],
                body["infection"]["circumstances"],
                "Candida auris",
                body["products"]["medical_device"]["description"],
                body["declarant"]["phone"],
                "Motif-de-cloture-libre",
            ):
                assert free not in text, free

        assert p.get("notifier", "/healthz").status_code == 200
        assert p.get("notifier", "/readyz").status_code == 200
        metrics = p.get("notifier", "/metrics").text
        assert re.search(r'^notifier_messages_sent_total\{kind="new_case"\} 1\.0', metrics, re.M)
        assert re.search(r"^notifier_oldest_pending_age_seconds 0\.0", metrics, re.M)
    finally:
        p.stop_all()
        smtp.stop()
