"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright): it renders the leaderboard,
a version's metrics, confusion matrix and slice chart, and a click on Approve changes the state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.prep.conftest import Capture
from tests.integration.registry.conftest import DANA, StartRegistry, World, api, clone, send

pytestmark = pytest.mark.integration
CHROMIUM = os.environ.get("MLOPS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[3] / ".run" / "ui-screenshots"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed and could not be (tests/support/ensure_chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


def test_the_dashboard_renders_and_approving_in_it_changes_the_state(
    world_env: World,
    start_registry: StartRegistry,
    capture: Capture,
    browser,  # type: ignore[no-untyped-def]
) -> None:
    world = world_env
    SHOTS.mkdir(parents=True, exist_ok=True)
    first = clone(world, world.candidates[0], "ui-model", triggered_by="ana")
    second = clone(world, world.candidates[1], "ui-model", triggered_by="ana")
    with start_registry() as base:
        send(world, first)
        capture.wait_for(lambda e: e.type == "model.promoted" and e.payload.model_name == "ui-model", timeout=120)
        send(world, second)
        capture.wait_for(lambda e: e.type == "model.evaluated" and e.payload.version == 2, timeout=120)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/ui")
        assert page.locator("a", has_text="ui-model").count() == 1
        page.click("text=ui-model")
        page.wait_for_selector("#leaderboard")
        assert page.locator("#leaderboard tr").count() == 3  # header and two versions
        page.screenshot(path=str(SHOTS / "model.png"), full_page=True)

        page.goto(f"{base}/ui/models/ui-model/versions/2")  # reviewed against v1 on both test sets
        assert page.locator("text=Against the champions").count() == 1
        page.screenshot(path=str(SHOTS / "version-2-comparison.png"), full_page=True)

        page.goto(f"{base}/ui/models/ui-model/versions/1")
        assert page.locator("svg[aria-label='accuracy per group']").count() == 2  # channel, region
        assert page.locator("table.cm").count() == 1
        assert page.locator("#status-staging").inner_text() == "pending"
        page.screenshot(path=str(SHOTS / "version-before.png"), full_page=True)

        # Not signed in: the approve button leads to the login page
        page.fill("#approval-staging input[name=reason]", "reviewed the slices")
        page.click("#approve-staging")
        page.wait_for_selector("#sign-in")
        page.fill("input[name=token]", DANA)
        page.click("#sign-in")
        page.wait_for_selector("#approval-staging")
        assert "signed in as dana" in page.inner_text("header")
        page.fill("#approval-staging input[name=reason]", "reviewed the slices")
        page.click("#approve-staging")
        page.wait_for_selector("#status-staging.st-approved")
        assert "v1 approved for staging" in page.inner_text(".flash.ok")
        page.fill("#approval-staging input[name=reason]", "to staging")
        page.click("#promote-staging")
        page.wait_for_selector(".flash.ok")
        page.screenshot(path=str(SHOTS / "version-after.png"), full_page=True)
        alias = api(base, "GET", "/v1/models/ui-model/aliases/staging").json()
        approval = api(base, "GET", "/v1/models/ui-model/versions/1").json()["approvals"]["staging"]
        page.goto(f"{base}/ui/models/ui-model")
        assert "carl" not in page.inner_text("#env-staging") and "dana" in page.inner_text("#env-staging")
        page.screenshot(path=str(SHOTS / "model-after.png"), full_page=True)
        page.close()
    assert approval["status"] == "approved" and approval["actor"] == "dana"
    assert alias["version"] == 1
