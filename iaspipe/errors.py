"""Errors a caller can act on. Each carries its HTTP status and its problem text, so one
generic handler (iaspipe.http.problems) turns any of them into a problem+json answer."""

from __future__ import annotations

from typing import ClassVar

from schemas.problems import Problem


class ServiceError(Exception):
    """Base of every error meant for the caller. Subclasses set the class attributes, or
    override `problems()` and `headers()` when the text depends on the case."""

    status: ClassVar[int] = 400
    detail: ClassVar[str] = "Requête refusée / Request refused"
    path: ClassVar[str] = "request"
    rule: ClassVar[str] = "refused"
    message: ClassVar[str] = "Requête refusée."
    message_en: ClassVar[str] = "Request refused."

    def problems(self) -> list[Problem]:
        return self.one_problem(self.message, self.message_en)

    def one_problem(self, message: str, message_en: str) -> list[Problem]:
        """The error's problem at its path and rule, said in French and in English."""
        return [Problem(path=self.path, rule=self.rule, message=message, message_en=message_en)]

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(ServiceError):
    """One Problem per rule broken (422)."""

    status = 422
    detail = "Requête non conforme / Request not valid"

    def __init__(self, problems: list[Problem], detail: str | None = None) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self._problems = problems
        self._detail = detail

    def problems(self) -> list[Problem]:
        return self._problems

    @property
    def summary(self) -> str:
        return self._detail or self.detail


class MalformedJson(ServiceError):
    status = 400
    detail = "JSON illisible / Malformed JSON"
    path = "body"
    rule = "json_invalid"
    message = "Le corps de la requête n'est pas un JSON valide."
    message_en = "The request body is not valid JSON."


class NotJson(ServiceError):
    status = 415
    detail = "Type de contenu non pris en charge / Unsupported media type"
    path = "Content-Type"
    rule = "media_type"
    message = "Le corps de la requête doit être du JSON (Content-Type: application/json)."
    message_en = "The request body must be JSON (Content-Type: application/json)."


class NotFound(ServiceError):
    """Absent, or outside the caller's scope: both answer the same (404)."""

    status = 404
    detail = "Ressource introuvable / Not found"
    rule = "not_found"


class Conflict(ServiceError):
    status = 409
    rule = "conflict"


class NotAuthenticated(ServiceError):
    """No token, or a token that cannot be trusted (401)."""

    status = 401
    detail = "Authentification requise / Authentication required"
    path = "Authorization"
    rule = "invalid_token"
    message = "Jeton d'accès absent ou refusé."
    # Why a token failed is for the audit log, not for whoever sent it.
    message_en = "The bearer token was not accepted."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="iaspipe", error="invalid_token"'}


class Forbidden(ServiceError):
    """A known caller asking for something its role may not do (403)."""

    status = 403
    detail = "Accès refusé / Forbidden"
    path = "Authorization"
    rule = "forbidden"
    message = "Votre rôle ne permet pas cette action."

    def problems(self) -> list[Problem]:
        return self.one_problem(self.message, str(self))


class BodyTooLarge(ServiceError):
    status = 413
    detail = "Requête trop volumineuse / Request body too large"
    path = "body"
    rule = "body_too_large"
    message = "Le corps de la requête dépasse la taille permise."
    message_en = "The request body exceeds the allowed size."


class RateLimited(ServiceError):
    status = 429
    detail = "Trop de requêtes / Too many requests"
    path = "Authorization"
    rule = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after

    def problems(self) -> list[Problem]:
        return self.one_problem(
            f"Trop de demandes en peu de temps : réessayez dans {self.retry_after} s.",
            f"Too many requests: retry in {self.retry_after} s.",
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
