"""One place maps CPias errors to HTTP statuses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from iaspipe.api import problem_response
from schemas.problems import Problem
from services.cpias.domain.workflow import IllegalTransition, OutcomeRequired
from services.cpias.errors import CaseNotFound, LinkRefused


def install(app: FastAPI) -> None:
    @app.exception_handler(CaseNotFound)
    async def _not_found(_r: Request, _exc: CaseNotFound) -> JSONResponse:
        return problem_response(
            404,
            "Dossier introuvable / Case not found",
            [
                Problem(
                    path="case_id",
                    rule="not_found",
                    message="Aucun dossier ne correspond.",
                    message_en="No such case.",
                ),
            ],
        )

    @app.exception_handler(IllegalTransition)
    async def _illegal(_r: Request, exc: IllegalTransition) -> JSONResponse:
        allowed = ", ".join(s.value for s in exc.allowed) or "aucun / none"
        response = problem_response(
            409,
            "Transition interdite / Transition not allowed",
            [
                Problem(
                    path="to",
                    rule="illegal_transition",
                    message=f"Un dossier « {exc.current.value} » ne peut pas passer à "
                    f"« {exc.target.value} ». Possibles : {allowed}.",
                    message_en=f"A {exc.current.value} case cannot move to "
                    f"{exc.target.value}. Allowed: {allowed}.",
                ),
            ],
        )
        response.headers["X-Allowed-Transitions"] = ",".join(s.value for s in exc.allowed)
        return response

    @app.exception_handler(OutcomeRequired)
    async def _outcome(_r: Request, _exc: OutcomeRequired) -> JSONResponse:
        return problem_response(
            422,
            "Issue requise / Outcome required",
            [
                Problem(
                    path="outcome",
                    rule="outcome_required",
                    message="La clôture d'un dossier demande une issue (par exemple "
                    "controlled, no_further_action, transferred).",
                    message_en="Closing a case needs an outcome (for example controlled, "
                    "no_further_action, transferred).",
                ),
            ],
        )

    @app.exception_handler(LinkRefused)
    async def _link(_r: Request, exc: LinkRefused) -> JSONResponse:
        return problem_response(
            409,
            "Lien refusé / Link refused",
            [
                Problem(path="links", rule="link_refused", message=str(exc), message_en=str(exc)),
            ],
        )
