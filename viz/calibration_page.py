"""The Calibration page: the SEM the citizens are drawn from (shipped or uploaded) and the dynamics posterior."""

from __future__ import annotations

from typing import cast

import solara
from ipyvuetify.extra import FileInput

from egov_abm.model import InputError
from egov_abm.viz import plots
from egov_abm.viz.calibration_view import (
    MAX_UPLOAD_TEXT,
    posterior_table,
    read_shipped,
    read_upload,
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


@solara.component
def Calibration():
    """The SEM the agents are drawn from: path diagram, fit indices, loadings; and the dynamics posterior."""
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    NavigationTabs()
    with solara.Sidebar(), solara.Card("Parameters file"):
        solara.Select("Shipped SEM parameters", value=calibration_file.value, on_value=_choose_shipped,
                      values=[p.name for p in shipped_sem_files()])
        paragraph(f"Or upload a file written by 'egov-abm calibrate sem' (JSON, at most {MAX_UPLOAD_TEXT}); "
                  "it is read in memory and kept for this page only.")
        SemUpload(load_upload)
    shipped, shipped_error = solara.use_memo(lambda: _read_shipped(calibration_file.value), [calibration_file.value])
    view = calibration_upload.value or shipped
    diagram, figure_error = solara.use_memo(lambda: _sem_figure(view) if view else (None, None), [view])
    posterior = solara.use_memo(lambda: posterior_table().round(4), [])  # read the posterior file once
    window = solara.use_memo(calibration_window_text, [])
    with solara.Column(style={"padding": "8px 16px"}):
        heading(2, "Calibration: the structural equation model behind the citizens")
        if calibration_upload_error.value:
            solara.Error(calibration_upload_error.value, classes=["calibration-error"])
        error = shipped_error if view is None else figure_error
        if error:
            solara.Error(error, classes=["calibration-error"])
            return
        kind = "uploaded" if calibration_upload.value is not None else "shipped"
        solara.Text(f"File: {view.source} ({kind})", classes=["calibration-file"])
        solara.FigureMatplotlib(diagram, format="png", **plots.PNG_OPTIONS)
        with solara.Columns([1, 1]):
            with solara.Column():
                heading(4, "Fit indices")
                solara.DataFrame(view.fit.round(3), items_per_page=10)
            with solara.Column():
                heading(4, "Structural paths")
                solara.DataFrame(view.paths.round(4), items_per_page=10)
        heading(4, "Measurement model: standardised loadings and Cronbach's alpha")
        solara.DataFrame(view.loadings.round(3), items_per_page=12)
        paragraph(view.note)
        heading(4, f"Dynamics calibrated to {window} (ABC-SMC posterior)")
        solara.DataFrame(posterior, items_per_page=12)


def _read_shipped(name: str):
    try:
        return read_shipped(name), None
    except InputError as exc:
        return None, str(exc)
