"""French spacing of the portal's pages and the e-mails: what changes, and what must never
change (what a person typed and sends back, tags and their attributes, scripts)."""

from __future__ import annotations

import pytest

from schemas.reference import NBSP
from schemas.typography import french_spacing, french_spacing_of


@pytest.mark.parametrize(
    ("text", "spaced"),
    [
        ("Statut : ouvert", f"Statut{NBSP}: ouvert"),
        (" : après une balise", f"{NBSP}: après une balise"),
        ("Statut :", f"Statut{NBSP}:"),
        ("oui ; non", f"oui{NBSP}; non"),
        ("Une question ?", f"Une question{NBSP}?"),
        ("Attention !", f"Attention{NBSP}!"),
        ("le regroupement « Lyon » confirmé", f"le regroupement «{NBSP}Lyon{NBSP}» confirmé"),
        # Left as they are: times, addresses, a colon inside a word, spaces already right.
        ("à 10:30, http://exemple.fr, a:b", "à 10:30, http://exemple.fr, a:b"),
        (f"Statut{NBSP}: ouvert", f"Statut{NBSP}: ouvert"),
        ("Statut\n  : ouvert", "Statut\n  : ouvert"),
    ],
)
def test_a_text_is_spaced_as_french_prints_it(text: str, spaced: str) -> None:
    assert french_spacing_of(text) == spaced


def test_only_text_between_tags_changes() -> None:
    page = (
        '<p title="a : b">Motif : <strong>urgent</strong> : oui</p>'
        '<textarea name="analysis">Cause : inconnue ; à voir ?</textarea>'
        "<script>x = a ? b : c;</script><style>a :hover {}</style><pre>a : b</pre>"
        '<input value="Note : « telle quelle »"><p>Fin : ok</p>'
    )
    assert french_spacing(page) == (
        f'<p title="a : b">Motif{NBSP}: <strong>urgent</strong>{NBSP}: oui</p>'
        '<textarea name="analysis">Cause : inconnue ; à voir ?</textarea>'
        "<script>x = a ? b : c;</script><style>a :hover {}</style><pre>a : b</pre>"
        f'<input value="Note : « telle quelle »"><p>Fin{NBSP}: ok</p>'
    )


def test_kept_elements_are_found_in_any_case_and_only_until_they_close() -> None:
    page = "<TEXTAREA>a : b</TEXTAREA><p>c : d</p><pre>e : f</pre><p>g : h</p>"
    assert french_spacing(page) == (
        f"<TEXTAREA>a : b</TEXTAREA><p>c{NBSP}: d</p><pre>e : f</pre><p>g{NBSP}: h</p>"
    )
