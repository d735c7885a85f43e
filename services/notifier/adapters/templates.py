"""Messages rendered from Jinja2 templates (services/notifier/templates/): `<kind>.txt` and
`<kind>.html`, which only ever receive the message's Facts (domain/content.py)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from schemas.typography import french_spacing, french_spacing_of
from services.notifier.domain.content import Facts, subject
from services.notifier.ports import Rendered

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
KINDS = (
    "receipt",
    "case_closed",
    "new_case",
    "ack_reminder",
    "ack_overdue",
    "complement",
    "digest",
)


class JinjaRenderer:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(directory),
            # HTML templates are escaped; plain text is not HTML, nothing to escape there.
            autoescape=select_autoescape(["html"], default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, facts: Facts) -> Rendered:
        title = subject(facts)
        context = {"facts": facts, "subject": title}
        # Spaced as French prints them (schemas/typography.py), as the portal's pages are:
        # a narrow mail window never starts a line with a lone ":". The text part is one
        # text, whatever "<" it holds; the subject is a header, cut rather than wrapped.
        text = self.environment.get_template(f"{facts.kind}.txt").render(context)
        html = self.environment.get_template(f"{facts.kind}.html").render(context)
        return Rendered(subject=title, text=french_spacing_of(text), html=french_spacing(html))
