"""Characters no text of ours may hold, and the base of the small request bodies that are not
declarations (a move, a note, an address...).

C0 control characters but tab and newline (a carriage return included: forms send plain
newlines), DEL and the C1 controls, and the bidirectional embedding, override and isolate
characters, which make a text read otherwise than it is stored. A declaration's texts are
checked by its rules (schemas/validation.py, rule `control_character`, each under its path);
the other bodies refuse them as they are read (`In`), with the same rule name and words.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

CONTROL_MESSAGE = (
    "Ce texte contient un caractère de contrôle ou d'inversion du sens d'écriture (U+0000 à "
    "U+001F sauf tabulation et retour à la ligne, U+007F à U+009F, U+202A à U+202E, U+2066 "
    "à U+2069) : retirez-le."
)
CONTROL_MESSAGE_EN = (
    "This text holds a control or bidirectional-override character (U+0000 to U+001F but tab "
    "and line feed, U+007F to U+009F, U+202A to U+202E, U+2066 to U+2069): remove it."
)


def has_forbidden_character(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def stripped_edges(text: str) -> str:
    """What stripping a text's spaces would remove from its start and its end."""
    return text[: len(text) - len(text.lstrip())] + text[len(text.rstrip()) :]


# Letters that show nothing (the Hangul fillers, the blank Braille pattern), beside spaces,
# format characters (zero-width spaces, joiners, soft hyphen) and marks with no letter to sit on.
_SHOWS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_UNSEEN = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"})


def is_blank(text: str) -> bool:
    """Nothing a reader would see: spaces, zero-width or format characters, lone combining
    marks, fillers."""
    return all(
        c.isspace() or c in _SHOWS_NOTHING or unicodedata.category(c) in _UNSEEN for c in text
    )


class In(BaseModel):
    """A small request body: no unknown field, texts stripped, and no text holding a control
    or bidirectional-override character (422, rule `control_character`, before any use case
    reads it or a database refuses it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Before stripping: a control character at a text's start or end is refused, not removed.
    @field_validator("*", mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        if isinstance(value, str) and has_forbidden_character(value):
            raise PydanticCustomError("control_character", CONTROL_MESSAGE_EN)
        return value
