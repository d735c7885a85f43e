"""Debian's Chromium driven by Playwright for the portal's browser tests: pages checked by
axe-core (no serious or critical violation), no console error (CSP included), a screenshot of
each page under .artifacts/screenshots/, and keyboard-only helpers."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from services.portal.domain import form
from tests.conftest import IS_CI

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "services" / "portal" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / ".artifacts" / "screenshots"
# Playwright's own browser download is unreachable here: Debian's chromium, headless.
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=fr",
]


def chromium_or_skip() -> None:
    missing = [str(p) for p in (CHROMIUM, AXE) if not p.exists()]
    if missing:
        message = f"browser tests need {', '.join(missing)} (make test installs them)"
        if IS_CI:
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def launched() -> Iterator[Any]:
    """Chromium, headless and in French (the `browser` fixture of tests/conftest.py)."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # French interface (with Debian's chromium-l10n): dates shown and typed jj/mm/aaaa.
        env = {**os.environ, "LANGUAGE": "fr", "LANG": "fr_FR.UTF-8"}
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, env=env)
        yield b
        b.close()


class Visit:
    """One person's browser tab: every `look` screenshots the page, runs axe-core in it and
    checks the console stayed clean since the last look. Its screenshots replace those of the
    last run."""

    def __init__(
        self, browser: Any, prefix: str, *, javascript: bool = True, width: int = 1280
    ) -> None:
        self.context = browser.new_context(
            locale="fr-FR",
            viewport={"width": width, "height": 900},
            java_script_enabled=javascript,
        )
        self.javascript = javascript
        self.prefix = prefix
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        # axe-core is served from the portal's own origin, so the page's CSP stays as it is.
        self.page.route(
            "**/__axe.js",
            lambda route: route.fulfill(path=str(AXE), content_type="application/javascript"),
        )
        self.count = 0
        clear_screenshots(prefix)

    def _console(self, message: Any) -> None:
        # A page answered with an error status (a refused sign-in is a 401) logs "Failed to
        # load resource": the status of sub-resources is checked in `_response` instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} {response.url}")

    def close(self) -> None:
        self.context.close()

    def look(self, name: str) -> None:
        self.count += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        if self.javascript:
            # After a form's redirect the page may still be loading its fonts and icons: a
            # screenshot then shows fallback fonts and empty icon boxes.
            self.page.wait_for_load_state("load")
            self.page.evaluate("async () => { await document.fonts.ready; }")
        else:
            # Playwright waits for fonts with a script; without scripts, wait for the network.
            self.page.wait_for_load_state("networkidle")
        # caret="initial": hiding the caret injects a <style>, which the page's CSP refuses.
        self.page.screenshot(
            path=str(SHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"),
            full_page=True,
            caret="initial",
        )
        assert self.page.evaluate("document.documentElement.lang") == "fr"
        if self.javascript:
            self.page.add_script_tag(url="/__axe.js")
            violations = self.page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            )
            serious = [v for v in violations if v["impact"] in ("serious", "critical")]
            assert not serious, f"{name}: " + json.dumps(
                [
                    {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
                    for v in serious
                ],
                ensure_ascii=False,
            )
        errors, self.errors = self.errors, []
        assert not errors, f"{name}: console errors {errors}"

    def laid_out(self, selector: str) -> str:
        """The text of `selector` as the page lays it out once its style sheets are in: the
        innerText follows the CSS, and a free text keeps its line breaks only once
        portal.css (white-space: pre-line) applies, which a busy machine may not have done
        yet when the redirected page's HTML is there."""
        self.page.wait_for_load_state("load")
        return str(self.page.inner_text(selector))

    def described(self, selector: str) -> str:
        """The messages an invalid field's aria-describedby points to."""
        field = self.page.locator(selector)
        assert field.get_attribute("aria-invalid") == "true", selector
        return str(self.page.locator(f"#{field.get_attribute('aria-describedby')}").inner_text())

    # -- with the mouse ------------------------------------------------------------------

    def sign_in(self, base: str, email: str, password: str, next_url: str = "") -> None:
        """Sign in on the portal's own form, back to `next_url` if given."""
        self.page.goto(f"{base}/login" + (f"?next={next_url}" if next_url else ""))
        self.page.fill("#username", email)
        self.page.fill("#password", password)
        self.page.click("button:has-text('Se connecter')")

    def click_label(self, selector: str) -> None:
        input_id = self.page.locator(selector).get_attribute("id")
        self.page.click(f"label[for='{input_id}']")

    def fill(self, names: list[str], data: form.FormData) -> None:
        """Fill fields as a person with a mouse does: click the labels, type the texts."""
        for name in names:
            f = form.field(name)
            value = data.get(name, "")
            css = f"[name='{name}']"
            if (
                f.kind == "group"
                or self.page.locator(css).first.get_attribute("readonly") is not None
            ):
                continue
            if f.kind in ("radios",):
                if value:
                    self.click_label(f"input{css}[value='{value}']")
            elif f.kind == "checkboxes":
                for option in value:
                    self.click_label(f"input{css}[value='{option}']")
            elif f.kind == "checkbox":
                if (value == "on") != self.page.is_checked(css):
                    self.click_label(f"input{css}")
            elif f.kind == "select":
                if value:
                    self.page.select_option(css, str(value))
            elif self.page.locator(css).is_visible():
                self.page.fill(css, str(value))

    # -- with the keyboard only ----------------------------------------------------------

    def submit_with(self, key: str = "Enter") -> None:
        """Press a key that sends a form, and wait for the next page."""
        with self.page.expect_navigation():
            self.page.keyboard.press(key)

    def focused(self, selector: str) -> bool:
        return bool(
            self.page.evaluate(
                "s => !!document.activeElement && document.activeElement.matches(s)", selector
            )
        )

    def tab_to(self, selector: str, limit: int = 300) -> None:
        for _ in range(limit):
            if self.focused(selector):
                return
            self.page.keyboard.press("Tab")
        raise AssertionError(f"{selector} cannot be reached with the Tab key")

    def key_fill(self, names: list[str], data: form.FormData) -> None:
        """The same, with Tab, arrows, Space and typing only."""
        keyboard = self.page.keyboard
        for name in names:
            f = form.field(name)
            value = data.get(name, "")
            css = f"[name='{name}']"
            if f.kind == "group" or not value:
                continue
            if self.page.locator(css).first.get_attribute("readonly") is not None:
                continue
            if f.kind == "radios":
                self.tab_to(f"input{css}")
                for _ in range(len(f.options)):
                    if self.focused(f"input{css}[value='{value}']"):
                        break
                    keyboard.press("ArrowDown")
                keyboard.press("Space")
            elif f.kind == "checkboxes":
                for option in value:
                    self.tab_to(f"input{css}[value='{option}']")
                    keyboard.press("Space")
            elif f.kind == "checkbox":
                self.tab_to(f"input{css}")
                keyboard.press("Space")
            elif f.kind == "select":
                continue  # the département comes from the account
            else:
                self.tab_to(css)
                keyboard.press("Control+A")
                if f.kind == "date":
                    year, month, day = str(value).split("-")
                    keyboard.type(f"{day}{month}{year}")
                else:
                    keyboard.type(str(value))
            self.assert_value(name, css, value, f.kind)

    def sign_in_with_keys(self, base: str, email: str, password: str) -> None:
        """Sign in with Tab, typing and Enter only."""
        self.page.goto(f"{base}/login")
        self.tab_to("#username")
        self.page.keyboard.type(email)
        self.tab_to("#password")
        self.page.keyboard.type(password)
        self.submit_with("Enter")

    def assert_value(self, name: str, css: str, value: Any, kind: str) -> None:
        if kind in ("radios", "checkbox", "checkboxes"):
            return
        typed = self.page.locator(css).input_value()
        assert typed == str(value), f"{name}: typed {typed!r}, wanted {value!r}"


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} not met after {timeout}s")


def clear_screenshots(prefix: str) -> None:
    for shot in SHOTS.glob(f"{prefix}-*.png") if SHOTS.exists() else []:
        shot.unlink()


def node() -> str:
    found = shutil.which("node")
    if not found:
        if IS_CI:
            pytest.fail("node is needed for the OpenID Connect provider")
        pytest.skip("node is not installed")
    return found
