"""The Idempotency-Key header of a submission or a complement: a retry under the same key
returns the first answer."""

from __future__ import annotations

from fastapi import Request

from iaspipe.errors import InvalidRequest
from schemas.plain import has_forbidden_character
from schemas.problems import Problem
from schemas.validation import CONTROL_CHECK

KEY_MAX_LENGTH = 200


def idempotency_key(request: Request) -> str | None:
    """The header's key, if any: refused (422, naming the header) when it holds control
    characters or is longer than KEY_MAX_LENGTH."""
    key = request.headers.get("idempotency-key")
    if key is not None and has_forbidden_character(key):
        raise InvalidRequest(
            [
                Problem(
                    path="Idempotency-Key",
                    rule=CONTROL_CHECK.rule,
                    message=CONTROL_CHECK.message,
                    message_en=CONTROL_CHECK.message_en,
                )
            ]
        )
    if key is not None and len(key) > KEY_MAX_LENGTH:
        raise InvalidRequest(
            [
                Problem(
                    path="Idempotency-Key",
                    rule="string_too_long",
                    message=f"Texte trop long (au plus {KEY_MAX_LENGTH} caractères).",
                    message_en=f"Text too long (at most {KEY_MAX_LENGTH} characters).",
                )
            ]
        )
    return key
