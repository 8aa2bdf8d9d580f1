"""The app as a person uses it: real server (`egov-abm app`), real headless Chromium."""

from __future__ import annotations

import csv
import statistics
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE as SHIPPED_SEM
from egov_abm.viz.controls import control

STEP_TIMEOUT_MS = 30_000


def _month(page) -> str:
    return page.locator(".explore-month").inner_text()


def _drawn(page) -> str:
    """The map's and the charts' markup (the page draws them as HTML and SVG)."""
    return page.evaluate("[...document.querySelectorAll('.explore-map, .explore-chart, .explore-histograms')]"
                         ".map(e => e.innerHTML).join('|')")


def _wait_for_month(page, month: int, horizon: int = 296) -> None:
    expect(page.locator(".explore-month")).to_have_text(f"month {month} of {horizon}", timeout=STEP_TIMEOUT_MS)


def _step(page, expected_month: int) -> float:
    """Press Step; return seconds until the month label, the map and both charts have been redrawn."""
    before = _drawn(page)
    started = time.perf_counter()
    page.get_by_role("button", name="Step").click()
    _wait_for_month(page, expected_month)
    page.wait_for_function(
        "before => [...document.querySelectorAll('.explore-map, .explore-chart, .explore-histograms')]"
        ".map(e => e.innerHTML).join('|') !== before", arg=before, timeout=STEP_TIMEOUT_MS)
    return time.perf_counter() - started


def _horizontal_scroll(page) -> int:
    """Pixels the page or any table would scroll sideways (0 when everything fits)."""
    return page.evaluate("Math.max(document.documentElement.scrollWidth - document.documentElement.clientWidth, "
                         "...[...document.querySelectorAll('table')].map(t => t.scrollWidth - "
                         "t.parentElement.clientWidth), 0)")


FIRST_MONTH = 165  # the page starts watching in January 2020


@pytest.mark.slow  # times steps and play in the browser
def test_explore_steps_redraw_play_pause_and_reset_with_a_new_slider_value(page, app_url, artifacts, timings):
    page.goto(app_url + "/")
    _wait_for_month(page, FIRST_MONTH)
    expect(page.locator(".explore-settings")).to_contain_text("2,000 citizens")
    expect(page.locator(".explore-settings")).to_contain_text("watching from January 2020")
    # no developer controls; every slider shows its value and unit
    for dev in ("Play Interval", "Render Interval", "Use Threads"):
        expect(page.get_by_text(dev)).to_have_count(0)
    expect(page.locator(".value-n_agents")).to_have_text("Population: 2,000 citizens")
    expect(page.locator(".value-p_success")).to_have_text("Service quality: 0.85 probability")
    # the map: 20 regions, each with its share, and its numbers on hover
    tiles = page.locator(".explore-map .tile")
    expect(tiles).to_have_count(20)
    assert "% used the portal in the last 12 months" in tiles.first.get_attribute("title")
    assert _horizontal_scroll(page) == 0
    page.screenshot(path=str(artifacts / "explore-start.png"), full_page=True)

    seconds = [_step(page, FIRST_MONTH + k) for k in range(1, 13)]
    expect(page.locator(".explore-adoption")).to_contain_text("% of adults")
    page.screenshot(path=str(artifacts / "explore-after-12-steps.png"), full_page=True)
    timings["explore_step_redraw_seconds_2000_agents"] = {
        "each": [round(s, 3) for s in seconds], "median": round(statistics.median(seconds), 3),
        "max": round(max(seconds), 3)}
    assert statistics.median(seconds) < 2.0, "a generous bound; the goal (0.5 s) is reported in timings.json"

    # Play advances month after month; Pause stops at once
    month = FIRST_MONTH + 12
    page.get_by_role("button", name="Play").click()
    started = time.perf_counter()
    page.wait_for_timeout(3000)
    page.get_by_role("button", name="Pause").click()
    elapsed = time.perf_counter() - started
    played = int(page.locator(".explore-month").inner_text().split()[1]) - month
    page.wait_for_timeout(1500)
    after_pause = int(page.locator(".explore-month").inner_text().split()[1]) - month - played
    timings["explore_play_months_per_second"] = round(played / elapsed, 2)
    timings["explore_months_after_pause"] = after_pause
    assert played >= 3 and after_pause <= 1

    # Move the citizens slider up by 10 steps of 100: the value shows at once, with the reset hint, and Reset
    # builds the new model with 3,000 citizens
    slider = page.get_by_role("slider", name=control("n_agents").label, exact=True)
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuenow", "3000")
    expect(page.locator(".value-n_agents")).to_have_text("Population: 3,000 citizens")
    expect(page.locator(".reset-hint")).to_have_count(1)
    expect(page.locator(".reset-hint")).to_have_text("changed: press Reset to apply")
    page.screenshot(path=str(artifacts / "explore-reset-hint.png"), full_page=True)
    page.get_by_role("button", name="Reset").click()
    _wait_for_month(page, FIRST_MONTH)
    expect(page.locator(".explore-settings")).to_contain_text("3,000 citizens")
    expect(page.locator(".reset-hint")).to_have_count(0)
    _step(page, FIRST_MONTH + 1)
    page.screenshot(path=str(artifacts / "explore-after-reset.png"), full_page=True)

    # the largest population the page offers: 20,000 citizens (figure only)
    slider.focus()
    slider.press("End")
    expect(page.locator(".value-n_agents")).to_have_text("Population: 20,000 citizens")
    page.get_by_role("button", name="Reset").click()
    _wait_for_month(page, FIRST_MONTH)
    expect(page.locator(".explore-settings")).to_contain_text("20,000 citizens")
    seconds = [_step(page, FIRST_MONTH + k) for k in range(1, 7)]
    timings["explore_step_redraw_seconds_20000_agents"] = {
        "each": [round(s, 3) for s in seconds], "median": round(statistics.median(seconds), 3),
        "max": round(max(seconds), 3)}


def test_explore_bad_seed_is_corrected_and_the_page_keeps_working(page, app_url):
    page.goto(app_url + "/")
    _wait_for_month(page, FIRST_MONTH)
    seed = page.get_by_label("Seed (whole number)")
    seed.fill("twelve")
    seed.press("Enter")
    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_text("Seed: 'twelve' is not a number; used 1.")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    _step(page, FIRST_MONTH + 1)
    expect(page.locator(".explore-settings")).to_contain_text("seed 1;")


def test_the_server_prints_no_warnings_per_session(page, app_url, artifacts):
    for path in ("/", "/compare", "/"):
        page.goto(app_url + path)
        expect(page.locator(".nav-explore")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    log = (artifacts / "server.log").read_text()
    assert "Warning" not in log and "warn(" not in log, log[-2000:]


def test_compare_runs_two_scenarios_in_the_background_and_downloads_csv(page, app_url, artifacts, timings):
    page.goto(app_url + "/compare")
    expect(page.get_by_text("Compare policy scenarios with the baseline")).to_be_visible()
    # Two replicates of 1,000 citizens keep the test short; the defaults pick technology_only and citizen_centric.
    replicates = page.get_by_role("slider", name=control("replicates").label, exact=True)
    replicates.focus()
    replicates.press("Home")
    replicates.press("ArrowRight")
    expect(replicates).to_have_attribute("aria-valuenow", "2")
    expect(page.locator(".value-replicates")).to_have_text("Replicates per scenario: 2")
    agents = page.get_by_role("slider", name=control("compare_agents").label, exact=True)
    agents.focus()
    agents.press("Home")
    agents.press("ArrowRight")
    expect(agents).to_have_attribute("aria-valuenow", "1000")
    expect(page.locator(".value-compare_agents")).to_have_text("Population per run: 1,000 citizens")
    started = time.perf_counter()
    page.get_by_role("button", name="Run comparison").click()
    expect(page.locator(".compare-progress")).to_contain_text("of 6 runs done")
    page.screenshot(path=str(artifacts / "compare-running.png"), full_page=True)
    expect(page.get_by_text("6 runs (3 scenarios × 2 replicates, 1,000 citizens each)")).to_be_visible(
        timeout=300_000)
    timings["compare_6_runs_1000_agents_seconds"] = round(time.perf_counter() - started, 1)
    table = page.locator("table").first
    for name in ("baseline", "technology_only", "citizen_centric"):
        expect(table).to_contain_text(name)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download table (CSV)").click()
    path = artifacts / "comparison_table.csv"
    download_info.value.save_as(path)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["scenario"] for r in rows] == ["baseline", "technology_only", "citizen_centric"]
    assert float(rows[0]["extra_adopters"]) == 0.0
    assert float(rows[1]["cost_kzt"]) > 0
    page.screenshot(path=str(artifacts / "compare-done.png"), full_page=True)


def test_calibration_page_shows_the_fit_and_rejects_a_bad_upload(page, app_url, artifacts):
    page.goto(app_url + "/calibration")
    expect(page.get_by_text("Comparative fit index (CFI)")).to_be_visible()
    expect(page.get_by_text("Tucker-Lewis index (TLI)")).to_be_visible()
    expect(page.locator("table").first).to_contain_text("0.991")
    expect(page.locator(".calibration-file")).to_have_text("File: sem_default.json (shipped)")
    page.screenshot(path=str(artifacts / "calibration.png"), full_page=True)
    chooser = page.locator("input[type=file]")
    # a JSON whose r2 is text: one line on the page, no traceback, no server path
    chooser.set_input_files(files=[{"name": "bad.json", "mimeType": "application/json",
                                    "buffer": b'{"sem": {}, "r2": "high"}'}])
    expect(page.locator(".calibration-error")).to_have_text("bad.json: r2: expected an object of R² values")
    # a file that is not UTF-8
    chooser.set_input_files(files=[{"name": "binary.json", "mimeType": "application/json",
                                    "buffer": b"\xff\xfe\x00garbage"}])
    expect(page.locator(".calibration-error")).to_have_text(
        "binary.json: not UTF-8 text (byte 0); expected a JSON file")
    # larger than the limit: refused from its declared size, before its bytes are read
    chooser.set_input_files(files=[{"name": "big.json", "mimeType": "application/json",
                                    "buffer": b" " * 1_500_000}])
    expect(page.locator(".calibration-error")).to_have_text(
        "big.json: 1,500,000 bytes, larger than 1 MB; a SEM parameters file is a few kB")
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "site-packages" not in body
    expect(page.locator(".calibration-file")).to_have_text("File: sem_default.json (shipped)")
    page.screenshot(path=str(artifacts / "calibration-bad-upload.png"), full_page=True)
    # a good file is shown
    good = (Path(SHIPPED_SEM).read_bytes().replace(b'"note": "', b'"note": "Uploaded in the browser test. '))
    chooser.set_input_files(files=[{"name": "mine.json", "mimeType": "application/json", "buffer": good}])
    expect(page.locator(".calibration-file")).to_have_text("File: mine.json (uploaded)")
    expect(page.get_by_text("Uploaded in the browser test.", exact=False)).to_be_visible()
    expect(page.locator(".calibration-error")).to_have_count(0)
    # the page is still alive: the navigation works
    page.locator(".nav-explore").click()
    _wait_for_month(page, FIRST_MONTH)


def _small_comparison_form(page, replicates: int = 1) -> None:
    """Lowest citizens per run and ``replicates`` replicates, on the Compare page."""
    reps = page.get_by_role("slider", name=control("replicates").label, exact=True)
    reps.focus()
    reps.press("Home")
    for _ in range(replicates - 1):
        reps.press("ArrowRight")
    expect(reps).to_have_attribute("aria-valuenow", str(replicates))
    agents = page.get_by_role("slider", name=control("compare_agents").label, exact=True)
    agents.focus()
    agents.press("Home")
    expect(agents).to_have_attribute("aria-valuenow", str(control("compare_agents").allowed[0]))


@pytest.mark.slow  # two comparisons, one after the other
def test_two_sessions_comparing_at_once_share_the_workers_and_the_second_waits(browser, app_url, artifacts):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            pg.set_default_timeout(60_000)
            pg.goto(app_url + "/compare")
            expect(pg.get_by_text("Compare policy scenarios with the baseline")).to_be_visible()
        _small_comparison_form(pages[0], replicates=4)  # 12 runs: holds the workers for a while
        _small_comparison_form(pages[1])
        pages[0].get_by_role("button", name="Run comparison").click()
        expect(pages[0].locator(".compare-progress")).to_contain_text("runs done")
        pages[1].get_by_role("button", name="Run comparison").click()
        expect(pages[1].locator(".compare-queue")).to_contain_text("waiting: 1 comparison ahead")
        pages[1].screenshot(path=str(artifacts / "compare-queued.png"), full_page=True)
        expect(pages[0].get_by_text("12 runs (3 scenarios × 4 replicates")).to_be_visible(timeout=300_000)
        expect(pages[1].get_by_text("3 runs (3 scenarios × 1 replicate")).to_be_visible(timeout=300_000)
    finally:
        for c in contexts:
            c.close()
