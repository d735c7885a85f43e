"""Patient identity must never enter a declaration (R1413-80).

Two things are looked for in free text: a French social-security number (NIR, 13 digits and a
2-digit key, spaces, dots or dashes allowed between groups; the key is checked so that other
long numbers pass) and a date of birth (a date announced as such).
"""

from __future__ import annotations

import re

_SEP = r"[ .\-]?"
_NIR = re.compile(
    r"(?<![0-9A-Za-z])"
    rf"([1-478]){_SEP}(\d\d){_SEP}(\d\d){_SEP}(\d\d|2[AaBb]){_SEP}(\d\d\d){_SEP}(\d\d\d){_SEP}(\d\d)"
    r"(?![0-9A-Za-z])"
)

_MONTHS = (
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|"
    "novembre|décembre|decembre|january|february|march|april|may|june|july|august|"
    "september|october|november|december"
)
_DATE = (
    r"(?:\d{1,2}\s*[/.\-]\s*\d{1,2}\s*[/.\-]\s*\d{2,4}"
    r"|\d{4}-\d{2}-\d{2}"
    rf"|(?:1er|\d{{1,2}})\s+(?:{_MONTHS})\s+\d{{4}})"
)
_BIRTH = re.compile(
    r"(?:\bn[ée]e?s?\s+(?:le\s+)?(?:en\s+)?"
    r"|\bdate\s+de\s+naissance\b|\bd\.?\s?d\.?\s?n\.?(?=\W)|\bnaissance\b"
    r"|\bborn(?:\s+on)?\b|\bdate\s+of\s+birth\b|\bd\.?o\.?b\.?(?=\W))"
    rf"[\s:,\-]*(?:le\s+|du\s+|on\s+)?{_DATE}",
    re.IGNORECASE,
)


def _nir_key_ok(groups: tuple[str, ...]) -> bool:
    sex, yy, mm, dep, commune, order, key = groups
    dep_digits = dep.upper().replace("2A", "19").replace("2B", "18")
    number = int(sex + yy + mm + dep_digits + commune + order)
    return 97 - (number % 97) == int(key)


def contains_nir(text: str) -> bool:
    return any(_nir_key_ok(m.groups()) for m in _NIR.finditer(text))


def contains_birth_date(text: str) -> bool:
    return _BIRTH.search(text) is not None
