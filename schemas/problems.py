"""One entry per problem found in a request: path, French message, English message, article."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Problem(BaseModel):
    path: str
    message: str
    message_en: str
    rule: str
    # Said only when the rule has one: a problem without article has no "article" key, in
    # a refusal as in a warning.
    article: str | None = Field(default=None, exclude_if=lambda v: v is None)


class ProblemReport(BaseModel):
    detail: str
    errors: list[Problem]


def path_of(loc: tuple[int | str, ...]) -> str:
    """('infection', 'pathogens', 0, 'species') -> 'infection.pathogens[0].species'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"
