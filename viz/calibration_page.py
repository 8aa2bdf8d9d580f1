"""The Calibration page: the SEM the citizens are drawn from (shipped or uploaded), the ensemble and the posterior."""

from __future__ import annotations

from typing import cast

import solara
from ipyvuetify.extra import FileInput

from egov_abm.model import InputError
from egov_abm.viz import plots
from egov_abm.viz.calibration_view import (
    MAX_UPLOAD_TEXT,
    TABLE_CSS,
    Section,
    Table,
    fit_table,
    loadings_table,
    paths_table,
    read_shipped,
    read_upload,
    shipped_calibration,
    shipped_sem_files,
)
from egov_abm.viz.common import TITLE, NavigationTabs, heading, paragraph
from egov_abm.viz.controls import calibration_window_text

calibration_file = solara.reactive(shipped_sem_files()[0].name)  # the shipped file chosen (its name)
calibration_upload = solara.reactive(None)  # the SemView of the last good upload, shown instead of calibration_file
calibration_upload_error = solara.reactive("")  # one line about the last bad upload


def load_upload(name, size, file_obj) -> None:
    """Check an uploaded SEM file in memory; show it, or keep the page as it was and say why not in one line."""
    try:
        view = read_upload(name, size, file_obj)
    except InputError as exc:
        calibration_upload_error.set(str(exc))
        return
    calibration_upload_error.set("")
    calibration_upload.set(view)


def _choose_shipped(name: str) -> None:
    calibration_file.set(name)
    calibration_upload.set(None)
    calibration_upload_error.set("")


@solara.component
def SemUpload(on_file):
    """A file chooser (and drop target) for one JSON file, read in the browser and sent to the server in memory.

    ``on_file(name, size, file_obj)`` is called in a background thread; ``file_obj`` reads from the browser.
    It is the widget of Solara's ``FileDrop`` with a file chooser, so a file can be picked as well as dropped.
    """
    info, set_info = solara.use_state(cast(list, []))
    files, set_files = solara.use_state(cast(list, []))
    chooser = FileInput.element(multiple=False, accept=".json,application/json", show_progress=False,
                                on_file_info=set_info)

    def wire():  # as Solara's FileDrop: a fresh reader of the file now chosen (needs the render context)
        if not info:
            return
        widget = cast(FileInput, solara.get_widget(chooser))
        widget.version += 1
        widget.reset_stats()
        set_files(widget.get_files(timeout=UPLOAD_TIMEOUT))

    solara.use_effect(wire, [info])

    def read(cancel):
        if files:
            on_file(files[0].get("name"), files[0].get("size"), files[0]["file_obj"])

    solara.use_thread(read, [files])
    return chooser


#: Seconds to wait for the browser to send an upload's bytes.
UPLOAD_TIMEOUT = 30


def _sem_figure(view):
    try:
        return plots.sem_path_figure(view.paths, view.r2, view.correlation), None
    except Exception:  # noqa: BLE001 (any odd but valid file: one line instead of a traceback)
        return None, f"{view.source}: its paths cannot be drawn; check the estimates with 'egov-abm calibrate sem'"


#: Width of the sidebar's content: the sidebar (at least 400 px, growing with its content) stays 400 px wide
#: whatever a file name or message holds.
SIDEBAR_CONTENT_WIDTH = "368px"


def table(t: Table, name: str):
    """A :class:`~.calibration_view.Table` as plain HTML (full values, plain column names, no pages)."""
    return solara.HTML(tag="div", unsafe_innerHTML=t.html(), classes=["calibration-table", f"calibration-{name}"],
                       style="max-width: 100%")


def section(title: str, part: Section, name: str):
    """A heading, the part's summary line and its table, or its one-line error."""
    heading(4, title)
    if part.error:
        solara.Error(part.error, classes=["calibration-error"])
        return
    if part.summary:
        paragraph(part.summary)
    if part.table is not None:
        table(part.table, name)


@solara.component
def Calibration():
    """The SEM the agents are drawn from, and the calibration of the dynamics.

    The SEM file (shipped or uploaded): path diagram, fit indices, paths with the SEM ensemble's range, loadings.
    The shipped files: the SEM ensemble, the dynamics posterior with its identification, hold-out and synthetic
    checks.
    """
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    NavigationTabs()
    solara.Style(TABLE_CSS)
    with solara.Sidebar(), solara.Column(style={"width": SIDEBAR_CONTENT_WIDTH, "overflow-wrap": "anywhere"},
                                         classes=["calibration-sidebar"]):
        with solara.Card("Parameters file"):
            solara.Select("Shipped SEM parameters", value=calibration_file.value, on_value=_choose_shipped,
                          values=[p.name for p in shipped_sem_files()])
            paragraph(f"Or upload a file written by 'egov-abm calibrate sem' (JSON, at most {MAX_UPLOAD_TEXT}); "
                      "it is read in memory and kept for this page only.")
            SemUpload(load_upload)
    shipped, shipped_error = solara.use_memo(lambda: _read_shipped(calibration_file.value), [calibration_file.value])
    view = calibration_upload.value or shipped
    diagram, figure_error = solara.use_memo(lambda: _sem_figure(view) if view else (None, None), [view])
    files = shipped_calibration()  # the shipped ensemble, posterior and checks: read once per server
    window = solara.use_memo(calibration_window_text, [])
    with solara.Column(style={"padding": "8px 16px", "max-width": "100%"}):
        heading(2, "Calibration: the structural equation model behind the citizens")
        if calibration_upload_error.value:
            solara.Error(calibration_upload_error.value, classes=["calibration-error"])
        error = shipped_error if view is None else figure_error
        if error:
            solara.Error(error, classes=["calibration-error"])
        else:
            kind = "uploaded" if calibration_upload.value is not None else "shipped"
            solara.Text(f"File: {view.source} ({kind})", classes=["calibration-file"])
            solara.FigureMatplotlib(diagram, format="png", **plots.PNG_OPTIONS)
            heading(4, "Fit indices")
            table(fit_table(view), "fit")
            heading(4, "Structural paths")
            table(paths_table(view, files.ranges), "paths")
            heading(4, "Measurement model: standardised loadings and Cronbach's alpha")
            table(loadings_table(view), "loadings")
            paragraph(view.note)
        section("SEM ensemble: the split of readiness between attitude and trust", files.ensemble, "ensemble")
        section(f"Dynamics calibrated to {window} (ABC-SMC posterior)", files.posterior, "posterior")
        section("Hold-out check: fitted on the earlier record, predicting the later figures", files.holdout,
                "holdout")
        section("Synthetic check: can the calibration find known values?", files.synthetic, "synthetic")


def _read_shipped(name: str):
    try:
        return read_shipped(name), None
    except InputError as exc:
        return None, str(exc)
