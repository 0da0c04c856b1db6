"""A real ``grants serve`` on a free port over a seeded COSME store, and Debian's Chromium driven by Playwright.

Browsers cannot be downloaded here, so Playwright launches the system's ``chromium``
(``apt-get install chromium``; ``.ci/run`` installs it when it is missing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from api.db.session import Store
from tests.chromium import ARGS, CHROMIUM
from tests.grants_cli import free_port
from tests.web.seeding import CALL_ID, Tokens, seed_cosme

UNSCORED = {("ESCP4X-003", "ev01")}  # left for the evaluator's scenario to score through the page


@dataclass
class Server:
    url: str
    tokens: Tokens

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def consolidated(self, proposal_id: str) -> dict[str, str]:
        """The proposal's consolidated scores as the ranking has them now (read by finance through the API)."""
        with self.api(self.tokens.finance) as client:
            ranking = client.get(f"/calls/{CALL_ID}/ranking").json()
        return next(e["scores"] for e in ranking["entries"] if e["id"] == proposal_id)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"grants serve exited with {process.returncode}")
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("grants serve did not answer within 60 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``grants serve`` as installed, on a free port, over a store where COSME is scored."""
    database = f"sqlite:///{tmp_path_factory.mktemp('web') / 'grants.db'}"
    store = Store.open(database)
    tokens = seed_cosme(store, unscored=UNSCORED)
    store.engine.dispose()
    port = free_port()
    grants = Path(sys.executable).with_name("grants")
    env = {**os.environ, "DATABASE_URL": database}
    process = subprocess.Popen([str(grants), "serve", "--port", str(port), "--database", database], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process)
        yield Server(url, tokens)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: apt-get install chromium (CI does)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    yield made
    made.close()


def sign_in(context: BrowserContext, server: Server, token: str) -> Page:
    """A page signed in the way a person does it: the sign-in form, the token pasted, the button."""
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + "/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page
