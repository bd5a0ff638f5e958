"""Output paths: checked before any work, never an input, and written all-or-nothing.

- ``check_output_file`` / ``check_output_dir``: a path that cannot be written (a folder where a file is asked,
  a file where a folder is asked, a parent that is a file, a device) is refused with exit 3 before the analysis,
  not after it with a traceback.
- ``check_not_inputs``: an output that would overwrite one of the command's own inputs is a usage error (exit 2).
- ``StagedOutputs``: the files of one run are written into a hidden staging folder inside the output folder, then
  moved into place together (``commit``); a failure while moving puts the earlier files back, so the folder
  holds either the previous run's outputs or this run's, never a mix. ``cds triage`` logs the decision between
  staging and commit (cds.pipeline.deliver_triage), so a decision is only logged once its letter is written out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from cds.errors import InputError, UsageError
from cds.files import write_atomic

__all__ = ["StagedOutputs", "check_not_inputs", "check_output_dir", "check_output_file"]

log = logging.getLogger(__name__)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _check_creatable_parent(path: Path, what: str) -> None:
    """The folders above ``path`` exist or can be made: the nearest existing one is a writable folder."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise InputError(f"cannot write the {what}: {base.name!r} on its path is a file, not a folder", path=path)
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the {what}: folder {base.name or str(base)!r} is not writable", path=path)


def check_output_file(path: str | Path, what: str) -> Path:
    """Refuse (InputError, exit 3) an output file path that cannot be written: an existing folder, a device or
    pipe, a file inside a file, a read-only folder. Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write the {what}: this is a folder (give a file name)", path=path)
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise InputError(f"cannot write the {what}: not a regular file", path=path)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write the {what}: the file is read-only", path=path)
    _check_creatable_parent(path, what)
    return path


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Refuse (InputError, exit 3) an output folder that cannot be written: an existing file, a folder inside a
    file, a read-only folder. Returns the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot write the {what}: this is a file, not a folder", path=path)
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"cannot write the {what}: the folder is not writable", path=path)
        return path
    _check_creatable_parent(path, what)
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_not_inputs(outputs: Mapping[str, Path], inputs: Mapping[str, Path | None]) -> None:
    """Usage error (exit 2) when an output path names an input file or another output (``--json night.edf``
    would overwrite the recording)."""
    named = [(option, Path(path)) for option, path in inputs.items() if path is not None]
    seen: list[tuple[str, Path]] = []
    for option, path in outputs.items():
        for other, source in named:
            if _same_file(path, source):
                raise UsageError(f"would overwrite the {other} file {source.name!r}", option=option)
        for other, earlier in seen:
            if _same_file(path, earlier):
                raise UsageError(f"same path as {other} ({path.name!r})", option=option)
        seen.append((option, path))


class StagedOutputs:
    """The files of one run, written to a staging folder inside ``out_dir`` and moved into place by ``commit``.

    Use as a context manager: leaving it removes the staging folder (and ``out_dir`` itself when this run
    created it and nothing was committed). ``stale`` names earlier outputs this run does not write: ``commit``
    removes them too (a stale analysis.json beside a letter without a recording would mislead).
    """

    def __init__(self, out_dir: str | Path, files: Mapping[str, str | bytes], *, stale: Iterable[str] = ()) -> None:
        self.out = check_output_dir(out_dir)
        self.files = dict(files)
        self.stale = [name for name in stale if name not in self.files]
        self.committed = False
        self._created = not self.out.exists()
        self._stage: Path | None = None
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._stage = Path(tempfile.mkdtemp(prefix=".cds-staging-", dir=self.out))
            for name, data in self.files.items():
                write_atomic(self._stage / name, data)
        except OSError as exc:
            self.discard()
            raise InputError(f"cannot write the output: {exc.strerror or exc}", path=self.out) from exc

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()

    def commit(self) -> dict[str, Path]:
        """Move every staged file into the output folder and remove the stale ones, all or none: on an OSError
        the files moved so far are taken back and the earlier ones restored, then the error is raised."""
        if self._stage is None:
            raise RuntimeError("nothing staged")
        backup = self._stage / ".previous"
        backup.mkdir()
        moved_old: list[str] = []
        placed: list[str] = []
        try:
            for name in [*self.files, *self.stale]:
                if (self.out / name).exists():
                    os.replace(self.out / name, backup / name)
                    moved_old.append(name)
            for name in self.files:
                os.replace(self._stage / name, self.out / name)
                placed.append(name)
        except OSError:
            self._roll_back(backup, placed, moved_old)
            raise
        self.committed = True
        return {name: self.out / name for name in self.files}

    def _roll_back(self, backup: Path, placed: list[str], moved_old: list[str]) -> None:
        assert self._stage is not None  # called by commit() only, after staging
        for name in placed:
            try:
                os.replace(self.out / name, self._stage / name)
            except OSError as exc:  # pragma: no cover - the folder changed under us
                log.error("cannot take back %s: %s", self.out / name, exc)
        for name in moved_old:
            try:
                os.replace(backup / name, self.out / name)
            except OSError as exc:  # pragma: no cover
                log.error("cannot restore %s: %s", self.out / name, exc)

    def discard(self) -> None:
        """Remove the staging folder (and the output folder if this run created it and left it empty)."""
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None
        if self._created and not self.committed:
            with contextlib.suppress(OSError):
                self.out.rmdir()
