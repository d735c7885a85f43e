"""What the investigators' pages of the portal ask of cpias, on SQLite and PostgreSQL: a text
search on the reference and the establishment's name, cases with or without an assignee, open
or closed cases, the moves allowed now, and links to a case outside the caller's scope without
its reference."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import declaration_in, make_declaration
from tests.test_cpias_api import case_id, move, open_case


def references(client: TestClient, **params: Any) -> set[str]:
    answer = client.get("/v1/cases", params=params)
    assert answer.status_code == 200, answer.text
    return {i["reference"] for i in answer.json()["items"]}


def test_search_on_the_reference_and_the_establishments_name(
    cpias_client: TestClient, cpias_app: Any
) -> None:
    client = cpias_client
    open_case(cpias_app, reference="IAS-2026-84-000001")
    open_case(
        cpias_app,
        make_declaration(establishment__name="Clinique du Parc 50%_"),
        reference="IAS-2026-84-000002",
    )
    assert references(client, q="000002") == {"IAS-2026-84-000002"}
    assert references(client, q="chu exemple") == {"IAS-2026-84-000001"}
    assert references(client, q="  CLINIQUE ") == {"IAS-2026-84-000002"}
    assert references(client, q="IAS-2026") == {"IAS-2026-84-000001", "IAS-2026-84-000002"}
    # % and _ are letters here, not patterns.
    assert references(client, q="50%_") == {"IAS-2026-84-000002"}
    assert references(client, q="%") == {"IAS-2026-84-000002"}
    assert references(client, q="CHU_Exemple") == set()
    assert references(client, q="nowhere") == set()
    page = client.get("/v1/cases", params={"q": "IAS", "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert client.get("/v1/cases", params={"q": "x" * 101}).status_code == 422
    refused = client.get("/v1/cases", params={"q": "CHU\x07"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["path"] == "q"


def test_the_summary_names_the_establishment_the_criteria_and_the_organisms(
    cpias_client: TestClient, cpias_app: Any
) -> None:
    two = [
        {"species": "Klebsiella pneumoniae", "resistance": ["cpe"], "mechanism": "OXA-48"},
        {"species": "Escherichia coli", "resistance": []},
    ]
    open_case(cpias_app, declaration_in("38", infection__pathogens=two))
    item = cpias_client.get("/v1/cases").json()["items"][0]
    assert item["establishment"]["name"] == "CHU Exemple"
    assert item["establishment"]["departement"] == "38"
    assert item["criteria"] == ["1a", "2"]
    assert item["pathogens"] == ["Klebsiella pneumoniae OXA-48", "Escherichia coli"]


def test_cases_with_or_without_an_assignee(cpias_client: TestClient, cpias_app: Any) -> None:
    client = cpias_client
    open_case(cpias_app, reference="IAS-2026-84-000001")
    b = case_id(client, open_case(cpias_app, reference="IAS-2026-84-000002"))
    client.post(f"/v1/cases/{b}/assignment", json={"assignee": "dr.dupont"})
    assert references(client, assigned=True) == {"IAS-2026-84-000002"}
    assert references(client, assigned=False) == {"IAS-2026-84-000001"}
    assert references(client, assigned=False, q="000002") == set()


def test_open_or_closed_cases(cpias_client: TestClient, cpias_app: Any) -> None:
    client = cpias_client
    open_case(cpias_app, reference="IAS-2026-84-000001")
    b = case_id(client, open_case(cpias_app, reference="IAS-2026-84-000002"))
    for to in ("acknowledged", "investigating", "monitoring"):
        move(client, b, to)
    move(client, b, "closed", outcome="controlled")
    assert references(client, closed=False) == {"IAS-2026-84-000001"}
    assert references(client, closed=True) == {"IAS-2026-84-000002"}
    assert len(references(client)) == 2


def test_the_detail_says_which_moves_are_allowed_now(
    cpias_client: TestClient, cpias_app: Any
) -> None:
    client = cpias_client
    cid = case_id(client, open_case(cpias_app))
    allowed = [
        ("acknowledged", ["investigating"]),
        ("investigating", ["monitoring"]),
        ("monitoring", ["investigating", "closed"]),
    ]
    assert client.get(f"/v1/cases/{cid}").json()["allowed_transitions"] == ["acknowledged"]
    for to, then in allowed:
        assert move(client, cid, to).json()["allowed_transitions"] == then
    closed = move(client, cid, "closed", outcome="controlled").json()
    assert closed["allowed_transitions"] == []


def test_a_reader_is_offered_no_move(cpias_client: TestClient, cpias_app: Any, tokens: Any) -> None:
    """An ARS viewer reads the cases of its region but does not act on them: the detail
    offers it no move, where the CPias's investigator is offered the workflow's."""
    cid = case_id(cpias_client, open_case(cpias_app))
    ars = tokens.headers("ars_viewer", region="84", subject="ars.ara")
    investigator = tokens.headers("cpias_investigator", cpias="cpias-ara", subject="inv.ara")
    read = cpias_client.get(f"/v1/cases/{cid}", headers=ars)
    assert read.status_code == 200 and read.json()["allowed_transitions"] == []
    acting = cpias_client.get(f"/v1/cases/{cid}", headers=investigator).json()
    assert acting["allowed_transitions"] == ["acknowledged"]


def test_a_link_to_another_cpias_case_shows_no_reference(
    cpias_client: TestClient, cpias_app: Any, tokens: Any
) -> None:
    client = cpias_client
    admin = tokens.headers("admin")
    lyon = case_id(client, open_case(cpias_app, reference="IAS-2026-84-000001"))
    open_case(cpias_app, declaration_in("29"), reference="IAS-2026-53-000001")
    brest = client.get("/v1/cases", params={"reference": "IAS-2026-53-000001"}, headers=admin)
    brest_id = brest.json()["items"][0]["id"]
    linked = client.post(
        f"/v1/cases/{lyon}/links",
        json={"reference": "IAS-2026-53-000001", "kind": "same_episode"},
        headers=admin,
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["links"][0]["reference"] == "IAS-2026-53-000001"
    assert linked.json()["links"][0]["establishment"]["departement"] == "29"
    seen = client.get(f"/v1/cases/{lyon}").json()["links"]
    assert [(x["case_id"], x["reference"], x["visible"]) for x in seen] == [(brest_id, None, False)]
    # The other side is not this investigator's to open.
    assert client.get(f"/v1/cases/{brest_id}").status_code == 404
