"""French spacing in the portal's pages and the notifier's e-mails: the space before ":", ";",
"?" and "!" and inside « » does not break (U+00A0), so that no line starts with a lone ":" or
"»", however narrow the window or the phone. Typesetters put a thinner space before ";", "?"
and "!" (U+202F), but the State's font (Marianne) has no such character, and the browser's
fallback draws it so thin that "région;" reads as one word. Applied to what is rendered (a
page, an e-mail's HTML and text), so that it holds for the templates' words and for the
messages built in Python alike.

Only text between tags changes: never a tag or its attributes, and never what a person is
editing or what a browser runs (<textarea>, <script>, <style>, <pre>), so that a text sent
back by a form is the one that was typed."""

from __future__ import annotations

import re

from schemas.reference import NBSP

_TAG = re.compile(r"(<[^>]*>)")
_KEPT = re.compile(r"<(/?)(textarea|script|style|pre)\b", re.IGNORECASE)
# After a word, or at the start of a text that follows a tag ("<strong>Statut</strong> : …").
_BEFORE_MARK = re.compile(r"(?:(?<=\S)|^) +([:;?!])(?=\s|$)")
_AFTER_OPENING = re.compile(r"« +")
_BEFORE_CLOSING = re.compile(r" +»")


def french_spacing_of(text: str) -> str:
    """One text node: "Statut : ouvert" -> "Statut\u00a0: ouvert"."""
    if not any(mark in text for mark in (" :", " ;", " ?", " !", "«", "»")):
        return text
    text = _BEFORE_MARK.sub(NBSP + r"\1", text)
    text = _AFTER_OPENING.sub("«" + NBSP, text)
    return _BEFORE_CLOSING.sub(NBSP + "»", text)


def french_spacing(html: str) -> str:
    """A whole page, its text nodes spaced as French prints them (see the module)."""
    parts = _TAG.split(html)
    kept: str | None = None  # the element whose content is left as it is, while inside it
    for i, part in enumerate(parts):
        if i % 2:  # a tag
            found = _KEPT.match(part)
            if found:
                closing, name = found.group(1), found.group(2).lower()
                if not closing and kept is None:
                    kept = name
                elif closing and kept == name:
                    kept = None
        elif kept is None and part:
            parts[i] = french_spacing_of(part)
    return "".join(parts)
