"""One place maps intake errors to HTTP statuses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from iaspipe.api import problem_response
from schemas.problems import Problem
from services.intake.errors import (
    DeclarationNotFound,
    IdempotencyConflict,
    InvalidRequest,
    RateLimited,
)


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidRequest)
    async def _invalid(_r: Request, exc: InvalidRequest) -> JSONResponse:
        return problem_response(
            422, "Déclaration non conforme / Declaration not valid", exc.problems
        )

    @app.exception_handler(DeclarationNotFound)
    async def _not_found(_r: Request, _exc: DeclarationNotFound) -> JSONResponse:
        return problem_response(
            404,
            "Déclaration introuvable / Declaration not found",
            [
                Problem(
                    path="declaration_id",
                    rule="not_found",
                    message="Aucune déclaration ne porte cet identifiant.",
                    message_en="No declaration has this id.",
                ),
            ],
        )

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(_r: Request, _exc: IdempotencyConflict) -> JSONResponse:
        return problem_response(
            409,
            "Clé d'idempotence déjà utilisée / Idempotency key reused",
            [
                Problem(
                    path="Idempotency-Key",
                    rule="idempotency_conflict",
                    message="Cette clé a déjà servi pour une autre déclaration.",
                    message_en="This key was already used with another body.",
                ),
            ],
        )

    @app.exception_handler(RateLimited)
    async def _rate(_r: Request, exc: RateLimited) -> JSONResponse:
        response = problem_response(
            429,
            "Trop de déclarations / Too many submissions",
            [
                Problem(
                    path="Authorization",
                    rule="rate_limited",
                    message=f"Trop de déclarations en peu de temps : réessayez dans "
                    f"{exc.retry_after} s.",
                    message_en=f"Too many submissions: retry in {exc.retry_after} s.",
                ),
            ],
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
