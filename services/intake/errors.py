"""Intake errors; api/errors.py maps each to one status code."""

from __future__ import annotations

from schemas.problems import Problem


class IntakeError(Exception):
    pass


class InvalidRequest(IntakeError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class DeclarationNotFound(IntakeError):
    pass


class IdempotencyConflict(IntakeError):
    pass


class RateLimited(IntakeError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after
