"""The portal's HTTP clients of the services (intake, cpias, the notifier), each call with the
signed-in person's token. Answers are read with schemas/answers.py; v2 additions (warnings,
obligations) are read when present. A network error, a timeout or a 5xx raises
ServiceUnavailable; bodies are never logged."""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import httpx
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
from schemas.declaration import DeclarationAccepted
from schemas.notifications import (
    AddressBook,
    ArsAddressChanged,
    CpiasAddressChanged,
    NotificationPage,
)
from schemas.problems import Problem, ProblemReport
from services.portal.domain.answers import (
    Accepted,
    Followed,
    ReadRefused,
    Refused,
    ServiceUnavailable,
    obligations_of,
    warnings_of,
)
from services.portal.domain.casework import CasesUnavailable
from services.portal.domain.region import LinePage

M = TypeVar("M", bound=BaseModel)


class ServiceClient:
    """One service over HTTP: the connection pool, the person's token on every call, and what
    a failure means for a page."""

    def __init__(
        self, base_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        try:
            response = self.client.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ServiceUnavailable(f"{method} {path}: {response.status_code}")
        return response

    def fetch(self, path: str, token: str, answer: type[M], **kw: Any) -> M:
        """A read that must succeed (see _expect_ok)."""
        return _answer(self._call("GET", path, token, **kw), answer)

    def find(self, path: str, token: str, answer: type[M]) -> M | None:
        """A read of one thing: None when the service answers 404 (absent, or outside the
        person's scope); otherwise as `fetch`."""
        r = self._call("GET", path, token)
        return None if r.status_code == 404 else _answer(r, answer)

    def ask(self, path: str, token: str, answer: type[M], **kw: Any) -> M:
        """A read whose parameters the service may refuse (a period, a filter): ReadRefused
        with its problems; otherwise as `fetch`."""
        r = self._call("GET", path, token, **kw)
        if r.status_code == 422:
            raise ReadRefused(_refused(r).problems)
        return _answer(r, answer)

    def send(
        self,
        method: str,
        path: str,
        token: str,
        answer: type[M],
        *,
        ok: Collection[int] = (200,),
        **kw: Any,
    ) -> M | Refused:
        """A change the service may refuse: its answer, or its refusal."""
        r = self._call(method, path, token, **kw)
        if r.status_code in ok:
            return answer.model_validate_json(r.content)
        return _refused(r)

    def is_reachable(self) -> bool:
        try:
            return self.client.get("/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


class HttpDeclarationsApi(ServiceClient):
    """Intake: submit, list and follow declarations, send complements."""

    def submit(self, token: str, body: dict[str, Any], idempotency_key: str) -> Accepted | Refused:
        r = self._call(
            "POST",
            "/v1/declarations",
            token,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        if r.status_code in (200, 201):
            raw = r.json()
            accepted = DeclarationAccepted.model_validate(raw)
            return Accepted(
                declaration_id=accepted.id,
                reference=accepted.reference,
                received_at=accepted.received_at,
                warnings=warnings_of(raw),
            )
        return _refused(r)

    def page(self, token: str, *, limit: int, offset: int) -> DeclarationPage:
        params = {"limit": limit, "offset": offset}
        return self.fetch("/v1/declarations", token, DeclarationPage, params=params)

    def get(self, token: str, declaration_id: str) -> Followed | None:
        r = self._call("GET", f"/v1/declarations/{_segment(declaration_id)}", token)
        if r.status_code == 404:
            return None
        _expect_ok(r)
        raw = r.json()
        return Followed(DeclarationView.model_validate(raw), obligations_of(raw))

    def complement(
        self,
        token: str,
        declaration_id: str,
        body: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> ComplementAccepted | Refused:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.send(
            "POST",
            f"/v1/declarations/{_segment(declaration_id)}/complement",
            token,
            ComplementAccepted,
            ok=(200, 202),
            json=body,
            headers=headers,
        )


class HttpCasesApi(ServiceClient):
    """Cpias: the investigators' cases and their workflow, clusters, the region's figures."""

    def _call(self, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
        try:
            return super()._call(method, path, token, **kw)
        except ServiceUnavailable as exc:  # said as the cases service, not intake
            raise CasesUnavailable(str(exc)) from exc

    def page(self, token: str, params: dict[str, Any]) -> CasePage | Refused:
        r = self._call("GET", "/v1/cases", token, params=params)
        if r.status_code == 422:
            return _refused(r)
        return _answer(r, CasePage)

    def get(self, token: str, case_id: str) -> CaseDetail | None:
        return self.find(f"/v1/cases/{_segment(case_id)}", token, CaseDetail)

    def cluster(self, token: str, cluster_id: str) -> ClusterView | None:
        return self.find(f"/v1/clusters/{_segment(cluster_id)}", token, ClusterView)

    def transition(self, token: str, case_id: str, body: dict[str, Any]) -> CaseDetail | Refused:
        return self._act(token, case_id, "transitions", body, CaseDetail)

    def assign(self, token: str, case_id: str, assignee: str | None) -> CaseDetail | Refused:
        return self._act(token, case_id, "assignment", {"assignee": assignee}, CaseDetail)

    def add_note(self, token: str, case_id: str, kind: str, text: str) -> NoteView | Refused:
        return self._act(token, case_id, "notes", {"kind": kind, "text": text}, NoteView)

    def link(self, token: str, case_id: str, body: dict[str, Any]) -> CaseDetail | Refused:
        return self._act(token, case_id, "links", body, CaseDetail)

    def decide(
        self, token: str, case_id: str, other_case_id: str, body: dict[str, Any]
    ) -> CaseDetail | Refused:
        what = f"cluster-suggestions/{_segment(other_case_id)}"
        return self._act(token, case_id, what, body, CaseDetail)

    def _act(
        self, token: str, case_id: str, what: str, body: dict[str, Any], model: type[M]
    ) -> M | Refused:
        path = f"/v1/cases/{_segment(case_id)}/{what}"
        return self.send("POST", path, token, model, ok=(200, 201), json=body)


class HttpNotifierApi(ServiceClient):
    """The notifier: its address book and the messages it sent."""

    def address_book(self, token: str) -> AddressBook:
        return self.fetch("/v1/address-book", token, AddressBook)

    def set_cpias_address(
        self, token: str, cpias: str, body: dict[str, Any]
    ) -> CpiasAddressChanged | Refused:
        path = f"/v1/address-book/cpias/{_segment(cpias)}"
        return self.send("PUT", path, token, CpiasAddressChanged, json=body)

    def set_ars_address(
        self, token: str, region_code: str, body: dict[str, Any]
    ) -> ArsAddressChanged | Refused:
        path = f"/v1/address-book/ars/{_segment(region_code)}"
        return self.send("PUT", path, token, ArsAddressChanged, json=body)

    def notifications(self, token: str, declaration_id: str) -> NotificationPage:
        params = {"declaration_id": declaration_id}
        return self.fetch("/v1/notifications", token, NotificationPage, params=params)


class HttpAudit:
    """GET /v1/audit of one service, through that service's client (and its connections)."""

    def __init__(self, service: ServiceClient) -> None:
        self.service = service

    def page(self, token: str, *, filters: Mapping[str, str], limit: int, offset: int) -> AuditPage:
        params = {**{k: v for k, v in filters.items() if v}, "limit": limit, "offset": offset}
        return self.service.fetch("/v1/audit", token, AuditPage, params=params)


def _refused(r: httpx.Response) -> Refused:
    """A 4xx problem report; anything else unexpected becomes one general problem."""
    try:
        report = ProblemReport.model_validate_json(r.content)
        return Refused(r.status_code, report.detail, report.errors)
    except ValueError:
        problem = Problem(
            path="request",
            rule=f"http_{r.status_code}",
            message="La demande a été refusée.",
            message_en=f"Refused with status {r.status_code}.",
        )
        return Refused(r.status_code, "Refusée / Refused", [problem])


def _segment(value: str) -> str:
    """An id as one segment of a path, whatever it holds."""
    return urllib.parse.quote(value, safe="")


def _expect_ok(r: httpx.Response) -> None:
    """A read that fails for another reason than "not found" is a fault of the set-up (the
    portal's tokens refused...): reported as the service being unavailable, and logged."""
    if r.status_code != 200:
        raise ServiceUnavailable(f"{r.request.method} {r.request.url.path}: {r.status_code}")


def _answer(r: httpx.Response, answer: type[M]) -> M:
    """The answer of a read that must succeed (see _expect_ok)."""
    _expect_ok(r)
    return answer.model_validate_json(r.content)


class HttpRegionApi:
    """The regional dashboard's reads (docs/ars.md): intake's figures and line list, cpias's
    case figures, clusters and alerts, with the signed-in person's token. The services
    confine each answer to the person's scope; the portal only asks for the region shown."""

    def __init__(
        self,
        intake_url: str,
        cpias_url: str,
        *,
        timeout: float,
        intake_transport: httpx.BaseTransport | None = None,
        cpias_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.intake = ServiceClient(intake_url, timeout=timeout, transport=intake_transport)
        self.cpias = ServiceClient(cpias_url, timeout=timeout, transport=cpias_transport)

    def close(self) -> None:
        self.intake.close()
        self.cpias.close()

    @staticmethod
    def _read(
        service: ServiceClient, path: str, token: str, answer: type[M], **params: object
    ) -> M:
        asked = {k: v for k, v in params.items() if v is not None and v != ""}
        return service.ask(path, token, answer, params=asked)

    def weekly(
        self, token: str, *, region: str, weeks: int = 52, departement: str | None = None
    ) -> WeeklyFigures:
        return self._read(
            self.intake,
            "/v1/stats/weekly",
            token,
            WeeklyFigures,
            region=region,
            weeks=weeks,
            departement=departement,
        )

    def breakdown(
        self, token: str, *, region: str, since: str = "", until: str = "", top: int = 10
    ) -> DeclarationBreakdown:
        return self._read(
            self.intake,
            "/v1/stats/breakdown",
            token,
            DeclarationBreakdown,
            region=region,
            since=since,
            until=until,
            top=top,
        )

    def line_list(
        self, token: str, *, region: str, filters: dict[str, str], page: LinePage
    ) -> LineListPage:
        return self._read(
            self.intake,
            "/v1/line-list",
            token,
            LineListPage,
            **filters,
            region=region,
            limit=page.limit,
            offset=page.offset,
            cursor=page.cursor,
            count=str(page.count).lower(),
        )

    def case_figures(self, token: str, *, region: str, since: str = "") -> CaseFigures:
        return self._read(
            self.cpias, "/v1/stats/cases", token, CaseFigures, region=region, since=since
        )

    def clusters(self, token: str, *, region: str, limit: int = 50) -> ClusterPage:
        return self._read(
            self.cpias, "/v1/clusters", token, ClusterPage, region=region, limit=limit
        )

    def alerts(self, token: str, *, region: str) -> ThresholdAlerts:
        return self._read(self.cpias, "/v1/alerts", token, ThresholdAlerts, region=region)

    def cluster(self, token: str, cluster_id: str) -> ClusterView | None:
        path = f"/v1/clusters/{_segment(cluster_id)}"
        return self.cpias.find(path, token, ClusterView)
