"""The Calibration and About pages as a person sees them at 1,366 px: real server, real headless Chromium."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from egov_abm.calibration.defaults import DEFAULT_SEM_FILE as SHIPPED_SEM
from egov_abm.scenarios.runner import package_version

WIDTH = 1366
LAST_SECTION = "Synthetic check: can the calibration find known values?"
TABLES = ("fit", "paths", "loadings", "ensemble", "posterior", "holdout")

#: Cells whose content is wider than the cell, tables wider than their container, and elements that scroll sideways.
LAYOUT_PROBLEMS = """() => {
  const cells = [...document.querySelectorAll('.calibration-table td, .calibration-table th')]
    .filter(c => c.scrollWidth > c.clientWidth).map(c => c.innerText);
  const tables = [...document.querySelectorAll('table')]
    .filter(t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 0.5)
    .map(t => t.closest('.calibration-table')?.className || 'table');
  const scrolling = [...document.querySelectorAll('*')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
    .map(e => `${e.tagName}.${e.className} ${e.scrollWidth}/${e.clientWidth}`);
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth) scrolling.push('page');
  return {cells, tables, scrolling};
}"""
SIDEBAR_WIDTH = "() => document.querySelector('.v-navigation-drawer').getBoundingClientRect().width"


def _no_layout_problems(page) -> None:
    problems = page.evaluate(LAYOUT_PROBLEMS)
    assert problems == {"cells": [], "tables": [], "scrolling": []}, problems


def _full_screenshot(page, path: Path) -> None:
    """The whole page: the app scrolls inside its own container, so the window is made as tall as the content."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
    size = page.viewport_size
    page.set_viewport_size({"width": WIDTH, "height": min(height + 100, 8000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def test_calibration_tables_show_full_values_at_1366_px(page, app_url, artifacts, timings):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    started = time.perf_counter()
    page.goto(app_url + "/calibration")
    expect(page.get_by_role("heading", name=LAST_SECTION)).to_be_visible()
    expect(page.locator(".calibration-holdout table")).to_be_visible()
    timings["calibration_page_load_seconds"] = round(time.perf_counter() - started, 2)
    for name in TABLES:
        expect(page.locator(f".calibration-{name} table")).to_have_count(1)
    fit = page.locator(".calibration-fit table")
    expect(fit.locator("th")).to_have_text(["Fit index", "This file", "Published (Amirova 2021, final model)",
                                            "Good fit"])
    expect(fit.locator("tr", has_text="Comparative fit index (CFI)")).to_contain_text("0.991")
    paths = page.locator(".calibration-paths table")
    expect(paths.locator("th")).to_have_text(["Path", "Estimate", "Standardised", "Standard error", "p-value",
                                              "SEM ensemble range"])
    expect(paths.locator("tr", has_text="Trust → E-government readiness")).to_contain_text("< 0.001")
    body = page.locator("body").inner_text()
    for raw in ("lval", "rval", "std_estimate", "p_value", "site-packages"):
        assert not re.search(rf"\b{raw}\b", body), raw
    expect(page.get_by_text("parameters identified")).to_be_visible()
    expect(page.get_by_text("with observation noise:", exact=False)).to_be_visible()
    _no_layout_problems(page)
    assert page.evaluate(SIDEBAR_WIDTH) == 400
    page.screenshot(path=str(artifacts / "calibration-1366-top.png"))
    _full_screenshot(page, artifacts / "calibration-1366-full.png")


def test_calibration_sidebar_keeps_its_width_and_tables_stay_readable_after_uploads(page, app_url, artifacts):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(app_url + "/compare")
    expect(page.get_by_text("Compare policy scenarios with the baseline")).to_be_visible()
    compare_width = page.evaluate(SIDEBAR_WIDTH)
    page.locator(".nav-calibration").click()  # the tab (the Compare page has an uncertainty button of that name)
    expect(page.locator(".calibration-file")).to_have_text("File: sem_default.json (shipped)")
    assert page.evaluate(SIDEBAR_WIDTH) == compare_width
    chooser = page.locator("input[type=file]")
    # a good file with a long name and no spaces: shown by its name, the sidebar does not grow
    name = "sem_fitted_to_a_regional_survey_of_portal_users_in_2024_final_version.json"  # 74 characters
    good = Path(SHIPPED_SEM).read_bytes().replace(b'"note": "', b'"note": "Uploaded in the browser test. ')
    chooser.set_input_files(files=[{"name": name, "mimeType": "application/json", "buffer": good}])
    expect(page.locator(".calibration-file")).to_have_text(f"File: {name} (uploaded)")
    assert page.evaluate(SIDEBAR_WIDTH) == compare_width
    _no_layout_problems(page)
    page.screenshot(path=str(artifacts / "calibration-1366-uploaded.png"))
    # a file of the wrong structure: one line, the uploaded file stays on show and the tables stay whole
    chooser.set_input_files(files=[{"name": "wrong.json", "mimeType": "application/json",
                                    "buffer": b'{"sem": {}, "estimates": "none"}'}])
    expect(page.locator(".calibration-error")).to_have_text(
        "wrong.json: estimates: expected a list of objects with lval, op and rval")
    expect(page.locator(".calibration-file")).to_have_text(f"File: {name} (uploaded)")
    assert page.evaluate(SIDEBAR_WIDTH) == compare_width
    _no_layout_problems(page)
    page.screenshot(path=str(artifacts / "calibration-1366-bad-upload.png"))


def test_about_page_renders_its_sections_and_the_version_in_one_screen(page, app_url, artifacts, timings):
    page.set_viewport_size({"width": WIDTH, "height": 768})
    started = time.perf_counter()
    page.goto(app_url + "/about")
    expect(page.get_by_role("heading", name="Version and how to cite")).to_be_visible()
    timings["about_page_load_seconds"] = round(time.perf_counter() - started, 2)
    for section in ("What it simulates", "What the model cannot say", "The evidence", "The data (calibration/data)",
                    "Main assumptions"):
        heading = page.get_by_role("heading", name=section)
        expect(heading).to_be_visible()
        box = heading.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, f"{section} is below the first screen"
    expect(page.locator(".about-version")).to_have_text(f"egov-abm {package_version()}")
    expect(page.locator(".about-cite")).to_contain_text(f"egov-abm, version {package_version()} (2026)")
    expect(page.locator(".about-papers li")).to_have_count(3)
    expect(page.locator(".about-papers")).to_contain_text("Amirova, A. K. (2021)")
    expect(page.locator(".about-limits")).to_contain_text("no institutional outcomes")
    expect(page.locator(".nav-about")).to_be_visible()
    _no_layout_problems(page)
    page.screenshot(path=str(artifacts / "about-1366x768.png"))
