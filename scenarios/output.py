"""Results folders and files written whole or not at all, and checked before anything is computed.

Every command that writes a results folder (``run``, ``compare``,
``analyze``, ``calibrate report``) writes it through
:func:`results_folder`: the files go to a temporary folder beside the target
(``.NAME.tmp-PID``), a manifest ``_egov_abm.json`` (kind, version, time,
files) is written last, and the new folder is swapped in for the old one in
one step (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames).
An interrupted or failed command therefore leaves the earlier folder as it
was and no temporary folder behind. Single result files (``calibrate sem``,
``calibrate dynamics``) are written by :func:`atomic_file`.

A sweep folder is written run by run (it resumes); it carries the same
manifest with kind ``sweep`` once its description is complete.

:func:`check_out_dir` and :func:`check_out_file` are called before any run
starts: a path that is a file, a folder that cannot be written, or a folder
of another kind is refused with one line (:class:`OutputError`, exit 2).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from egov_abm.model import InputError

MANIFEST = "_egov_abm.json"
KINDS = ("run", "compare", "sweep", "analysis", "report", "optimise")
#: The file that marks a folder of each kind written before manifests existed, and every file it may hold.
LEGACY = {
    "run": ("run.json", {"run.json", "timeseries.parquet"}),
    "compare": ("compare.json", {"compare.json", "timeseries.parquet", "replicates.parquet", "comparison.parquet",
                                 "report.md", "report.html", "adoption.png", "gaps.png", "cost_effectiveness.png"}),
    "sweep": ("_sweep.json", None),
    "analysis": ("analysis.json", {"analysis.json", "summary.csv", "indices.csv", "indices_second_order.csv",
                                   "report.md"}),
    "report": ("posterior_predictive.csv", {"report.md", "posterior_predictive.csv", "projection_2022_2030.csv",
                                            "posterior_parameters.csv", "posterior_correlations.csv",
                                            "posterior_predictive.png", "posterior_marginals.png",
                                            "posterior_correlations.png", "projection.png"}),
}
NOUNS = {"run": "run results", "compare": "comparison", "sweep": "sweep", "analysis": "analysis",
         "report": "calibration report", "optimise": "budget optimisation"}
SWEEP_FILES = ["_sweep.json", "_design.parquet", "_runs.parquet"]  # a sweep folder's description; runs come later


class OutputError(InputError):
    """An output path cannot take the results: a file, not writable, or a folder of another kind."""


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, or None when it has none; an unreadable one raises :class:`InputError`."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable egov-abm manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS or not isinstance(doc.get("files"), list):
        raise InputError(f"{path}: not an egov-abm manifest (kind and files expected)")
    return doc


def folder_kind(folder: Path) -> str | None:
    """The kind of results a folder holds (manifest, or an earlier version's marker file); None if none."""
    folder = Path(folder)
    doc = read_manifest(folder)
    if doc is not None:
        return doc["kind"]
    for kind, (marker, _) in LEGACY.items():
        if (folder / marker).is_file():
            return kind
    return None


def _describe(kind: str) -> str:
    return {"run": "a run's results", "compare": "a comparison", "sweep": "a sweep", "analysis": "a sweep analysis",
            "report": "a calibration report", "optimise": "a budget optimisation"}[kind]


def _probe(folder: Path, shown: Path, option: str) -> None:
    """Create and remove a scratch folder in ``folder``: the only honest test of writability (root ignores modes)."""
    try:
        scratch = tempfile.mkdtemp(prefix=".egov-abm-probe-", dir=folder)
    except OSError as exc:
        raise OutputError(f"{option} {shown}: cannot write in {folder} ({exc.strerror})") from None
    os.rmdir(scratch)


def _existing_ancestor(path: Path) -> Path:
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def check_out_dir(path: Path | str, kind: str, option: str = "--out") -> Path:
    """Check, before computing, that ``path`` can become (or be replaced by) a folder of ``kind``.

    Raises:
        OutputError: ``path`` is a file; it or the folder it goes in cannot be written; it holds results of
            another kind; or it holds files egov-abm did not write (which replacing it would delete).
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise OutputError(f"{option} {path}: exists and is not a folder")
        here = Path.cwd().resolve()
        if kind != "sweep" and (path.resolve() == here or path.resolve() in here.parents):  # it would be swapped
            raise OutputError(f"{option} {path}: is the current folder or holds it; name a folder inside it")
        found = folder_kind(path)
        entries = {p.name for p in path.iterdir()}
        if found is None and entries:
            raise OutputError(f"{option} {path}: folder is not empty and holds no {NOUNS[kind]} "
                              "(nor other egov-abm results); choose another folder")
        if found is not None and found != kind:
            raise OutputError(f"{option} {path}: holds {_describe(found)}, not {_describe(kind)}; "
                              "choose another folder")
        if kind != "sweep" and found is not None:
            doc = read_manifest(path)
            known = ({f.split("/")[0] for f in doc["files"]} | {MANIFEST}) if doc else LEGACY[kind][1]
            extra = sorted(entries - known)
            if extra:
                raise OutputError(f"{option} {path}: holds files egov-abm did not write ({', '.join(extra[:3])}) "
                                  "that replacing it would delete; move them or choose another folder")
        _probe(path if kind == "sweep" else path.absolute().parent, path, option)  # a sweep is written inside
        return path
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise OutputError(f"{option} {path}: {ancestor} is not a folder")
    _probe(ancestor, path, option)
    return path


def check_out_file(path: Path | str, option: str = "--out") -> Path:
    """Check, before computing, that a result file can be written at ``path`` (one line if not)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; expected a file name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{option} {path}: exists and is not a regular file")
    ancestor = _existing_ancestor(path.parent)
    if not ancestor.is_dir():
        raise OutputError(f"{option} {path}: {ancestor} is not a folder")
    _probe(ancestor, path, option)
    return path


def require_complete(folder: Path | str, kind: str) -> dict | None:
    """Check that ``folder`` holds complete results of ``kind`` before reading it; return its manifest.

    A folder of an earlier version without a manifest is accepted only for
    sweeps (their ``_sweep.json`` was always written last).

    Raises:
        InputError: no such folder, results of another kind, no manifest, or a listed file missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    doc = read_manifest(folder)
    if doc is None:
        if kind == "sweep" and (folder / "_sweep.json").is_file():
            missing = [f for f in SWEEP_FILES if not (folder / f).is_file()]
            if missing:
                raise InputError(f"{folder}: incomplete sweep folder: {missing[0]} is missing")
            return None
        found = folder_kind(folder)
        if found is not None and found != kind:
            raise InputError(f"{folder}: holds {_describe(found)}, not {_describe(kind)}")
        marker = "_sweep.json" if kind == "sweep" else MANIFEST
        raise InputError(f"{folder}: not a {NOUNS[kind]} folder, or an incomplete one (no {marker})")
    if doc["kind"] != kind:
        raise InputError(f"{folder}: holds {_describe(doc['kind'])}, not {_describe(kind)}")
    missing = [f for f in doc["files"] if not (folder / f).exists()]
    if missing:
        raise InputError(f"{folder}: incomplete: {missing[0]} is missing ({len(missing)} of {len(doc['files'])} "
                         "listed files); write it again")
    return doc


def manifest(kind: str, files: list[str], **extra) -> dict:
    """The manifest of a folder of ``kind`` holding ``files``."""
    from egov_abm.scenarios.runner import package_version

    return {"kind": kind, "version": package_version(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "files": sorted(files), **extra}


def write_manifest(folder: Path, kind: str, files: list[str] | None = None) -> Path:
    """Write ``folder``'s manifest (atomically); ``files`` default to every file in it."""
    folder = Path(folder)
    if files is None:
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST]
    with atomic_file(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest(kind, files), indent=2) + "\n", encoding="utf-8")
    return folder / MANIFEST


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Re-raise an :class:`OSError` without a file name (e.g. a full disk during a write) as one naming ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        if exc.errno:  # pyarrow's own wording wraps the system's ("Error writing bytes ... [errno 28] ...")
            raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from exc
        raise OSError(errno.EIO, str(exc) or os.strerror(errno.EIO), str(path)) from exc


@contextlib.contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with naming(path):
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Remove temporary folders beside ``target`` left by a process that no longer exists (killed with -9)."""
    for leftover in target.parent.glob(f".{target.name}.*-*"):
        kind, _, pid = leftover.name.rpartition("-")
        if kind.endswith((".tmp", ".old")) and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where not supported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(new: Path, target: Path) -> None:
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # it now holds the earlier results
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def results_folder(path: Path | str, kind: str) -> Iterator[Path]:
    """Yield a temporary folder to write the results into; on success it replaces ``path`` whole.

    The manifest (every file written, kind, version, time) is written last,
    then the folder is swapped in. On any failure, Ctrl-C included, the
    temporary folder is removed and ``path`` keeps its earlier contents. An
    :class:`OSError` without a file name (a full disk) is re-raised naming
    the folder.
    """
    target = check_out_dir(path, kind)
    target = Path(os.path.realpath(target)) if target.is_symlink() else target.absolute()  # swap the folder, not a link
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with naming(Path(path)):
            tmp.mkdir()
            yield tmp
            write_manifest(tmp, kind)
            _swap_in(tmp, target)
    except OSError as exc:
        name = str(exc.filename or "")
        if name.startswith(str(tmp)):  # name the file the user asked for, not its temporary twin
            raise OSError(exc.errno, exc.strerror, str(Path(path)) + name[len(str(tmp)):]) from exc
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
