"""Read EDF/EDF+ recordings: only the channels needed, physical values in µV, annotations split from '@@'.

EDF (Kemp et al. 1992) and EDF+ (Kemp & Olivan 2003). pyedflib is the primary reader; files it refuses
(non-ASCII header bytes, a non-compliant EDF+ recording field) are read through edfio, lazily, so that only
the requested channels are loaded. EDF+D (discontinuous) recordings are refused: their sample times are not
contiguous and cds does not reconstruct the gaps.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.caveats import Caveat
from cds.errors import RecordingError, SignalError
from cds.files import sha256_of
from cds.io._header import EdfHeader, read_header, read_record_onsets
from cds.io.channels import OPTIONAL_ROLES, ChannelRole, resolve_channel_roles
from cds.parallel import max_threads
from cds.units import uv_scale_for

__all__ = ["Annotation", "Recording", "Signal", "read_annotations", "read_recording", "read_start", "sha256_of"]

log = logging.getLogger(__name__)

MAX_PHYSICAL_UV = 1e9  # physical limits beyond +/-1000 V are a header error, not an EMG amplifier range
_CHUNK_BYTES = 1 << 23  # data records read per block: large enough for sequential speed, small for memory


@dataclass(frozen=True)
class Signal:
    """One channel in µV, float32 (physical values scaled from the header's physical dimension in float64, then
    stored as float32: the filters work in float32 anyway, and three 8-h channels take 88 MB instead of 177 MB)."""

    label: str
    role: ChannelRole
    data_uv: np.ndarray
    sfreq_hz: float
    unit: str
    physical_min_uv: float
    physical_max_uv: float
    resolution_uv: float | None = None  # µV per digital step: (physical range) / (digital range)
    n_samples: int = -1  # the channel's samples in the file (from data_uv when not given); kept by without_samples

    def __post_init__(self) -> None:
        if self.n_samples < 0:
            object.__setattr__(self, "n_samples", int(self.data_uv.size))

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sfreq_hz

    def without_samples(self) -> Signal:
        """The channel's facts without its samples (``data_uv`` empty, ``n_samples`` kept): for a caller that has
        what it needs from them and should not hold a night's worth of memory any longer."""
        return replace(self, data_uv=np.empty(0, dtype=self.data_uv.dtype), n_samples=self.n_samples)


@dataclass(frozen=True)
class Annotation:
    """One EDF+ annotation; an '@@CHANNEL' suffix (PSG-IPA convention) is split into ``channel``."""

    onset_s: float
    duration_s: float | None
    text: str
    channel: str | None = None


@dataclass(frozen=True)
class Recording:
    """A recording with the signals of the requested roles, its annotations and the caveats found reading it."""

    path: Path
    name: str
    sha256: str
    duration_s: float
    start: datetime | None
    edf_type: str
    reader: str
    labels: tuple[str, ...]
    roles: dict[ChannelRole, str | None]
    signals: dict[ChannelRole, Signal]
    annotations: tuple[Annotation, ...]
    caveats: tuple[Caveat, ...]

    def without_samples(self, roles: Iterable[ChannelRole]) -> Recording:
        """The same recording with the samples of ``roles`` released (Signal.without_samples)."""
        drop = set(roles)
        signals = {role: sig.without_samples() if role in drop else sig for role, sig in self.signals.items()}
        return replace(self, signals=signals)

    def to_dict(self) -> dict[str, Any]:
        """File facts for the analysis output (no sample data)."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "duration_s": self.duration_s,
            "start": None if self.start is None else self.start.isoformat(),
            "edf_type": self.edf_type,
            "reader": self.reader,
            "n_signals": len(self.labels),
            "roles": {role.value: label for role, label in self.roles.items()},
            "signals": {
                role.value: {
                    "label": s.label,
                    "sfreq_hz": s.sfreq_hz,
                    "unit": s.unit,
                    "n_samples": s.n_samples,
                    "resolution_uv": s.resolution_uv,
                }
                for role, s in self.signals.items()
            },
            "n_annotations": len(self.annotations),
            "caveats": [c.to_dict() for c in self.caveats],
        }


def _annotation(onset_s: float, duration_s: float | None, text: str) -> Annotation:
    text = str(text).strip()
    body, sep, channel = text.partition("@@")
    if duration_s is not None and duration_s < 0:  # pyedflib: -1 means "no duration"
        duration_s = None
    return Annotation(
        float(onset_s),
        None if duration_s is None else float(duration_s),
        body.strip() if sep else text,
        channel.strip() if sep else None,
    )


def _annotations_pyedflib(reader) -> tuple[Annotation, ...]:
    onsets, durations, texts = reader.readAnnotations()
    return tuple(_annotation(o, d, t) for o, d, t in zip(onsets, durations, texts, strict=False) if str(t).strip())


def _annotations_edfio(edf) -> tuple[Annotation, ...]:
    return tuple(_annotation(a.onset, a.duration, a.text) for a in edf.annotations if a.text.strip())


def _physical_table(offset: float, bitvalue: float, scale: float) -> NDArray[np.float32]:
    """The µV value of every 16-bit digital sample, indexed by its bits read as unsigned (0..65535): edflib's
    ``bitvalue * (offset + digital)`` in float64, in its order of operations, times ``scale`` to µV, then stored as
    float32. A table lookup per sample gives the very values the arithmetic would, at a fraction of its passes."""
    digital = np.arange(65536, dtype=np.uint16).view(np.int16)  # index u holds the sample whose bits are u
    values = np.add(digital, offset)  # (double)digital + offset, float64
    values *= bitvalue
    if scale != 1.0:
        values *= scale  # to µV, in float64 as before
    return values.astype(np.float32)


class _Reader:
    """pyedflib first, edfio as fallback. ``read_physical_many`` reads the requested signals; with pyedflib on a
    16-bit EDF it does so in one pass over the file that also computes the file's SHA-256 (``sha256``)."""

    def __init__(self, path: Path, header: EdfHeader) -> None:
        self.path = path
        self.header = header
        self._py = None
        self._edf: Any = None
        self.sha256: str | None = None  # set when a single-pass read hashed the whole file
        try:
            import pyedflib

            self._py = pyedflib.EdfReader(str(path))
            self.name = "pyedflib"
            if self._py.signals_in_file != len(header.data_index):
                found = self._py.signals_in_file
                self.close()
                raise OSError(f"pyedflib sees {found} signals, the header lists {len(header.data_index)}")
        except (OSError, ValueError) as exc:
            log.info("pyedflib refused %s (%s); reading it with edfio", path.name, exc)
            self._open_edfio(exc)

    def _open_edfio(self, first_exc: Exception) -> None:
        import edfio

        if self.header.file_format != "EDF":
            raise RecordingError(f"pyedflib cannot read this BDF file: {first_exc}", path=self.path) from first_exc
        try:
            self._edf = edfio.read_edf(self.path, lazy_load_data=True, header_encoding="latin-1")
        except Exception as exc:  # edfio raises ValueError and friends for malformed files
            raise RecordingError(
                f"unreadable EDF: pyedflib said {first_exc}; edfio said {exc}", path=self.path
            ) from exc
        self.name = "edfio"

    def read_physical(self, data_pos: int) -> np.ndarray:
        if self._py is not None:
            return self._py.readSignal(data_pos, digital=False)
        data = np.asarray(self._edf.signals[data_pos].data, dtype=np.float64)
        return data if data.flags.writeable else data.copy()

    def read_physical_many(self, scales: Mapping[int, float]) -> dict[int, NDArray[np.float32]]:
        """µV of the signals at the positions (reader order) keyed in ``scales``: physical value x scale computed in
        float64 (edflib's arithmetic), stored as float32."""
        wanted = list(scales)
        direct = self._read_direct(wanted, scales) if wanted else None
        if direct is not None:
            return direct
        out = {}
        for pos in wanted:
            physical = self.read_physical(pos)
            if scales[pos] != 1.0:
                physical *= scales[pos]
            out[pos] = physical.astype(np.float32)
        return out

    def _read_direct(self, positions: list[int], scales: Mapping[int, float]) -> dict[int, NDArray[np.float32]] | None:
        """The samples pyedflib would return, read with numpy in one sequential pass; None when not applicable.

        pyedflib (edflib) reads sample by sample with a seek per data record: about 0.1 s per 8-h channel, the
        largest single cost of an analysis. Here whole blocks of data records are read at once, the wanted
        signals converted in place, and the same bytes fed to SHA-256 so the file is read only once. The
        conversion repeats edflib's arithmetic exactly (``bitvalue * (offset + digital)`` in float64, with
        bitvalue and offset from edflib's own parsed header values), once for each of the 65536 digital values
        (``_physical_table``), so the values are bit-identical; three
        stretches per signal are compared with pyedflib's own reading and any difference falls back to it.
        """
        header, py = self.header, self._py
        if py is None or header.file_format != "EDF":
            return None
        spr = header.samples_per_record
        n_records = header.n_records
        nsamples = py.getNSamples()
        plan = []
        for pos in positions:
            idx = header.data_index[pos]
            pmax, pmin = float(py.getPhysicalMaximum(pos)), float(py.getPhysicalMinimum(pos))
            dmax, dmin = int(py.getDigitalMaximum(pos)), int(py.getDigitalMinimum(pos))
            if int(nsamples[pos]) != n_records * spr[idx] or dmax == dmin or pmax == pmin:
                return None  # edflib special-cases empty ranges; let pyedflib itself handle anything unusual
            bitvalue = (pmax - pmin) / (dmax - dmin)  # edflib: edfparam[i].bitvalue
            offset = pmax / bitvalue - dmax  # edflib: edfparam[i].offset
            out = np.empty(n_records * spr[idx], np.float32)
            plan.append((pos, sum(spr[:idx]), spr[idx], _physical_table(offset, bitvalue, scales[pos]), out))
        record_samples = sum(spr)
        record_bytes = 2 * record_samples
        per_chunk = max(1, _CHUNK_BYTES // record_bytes)
        # Two buffers in turn: SHA-256 of one chunk runs in a helper thread (hashlib releases the GIL) while the
        # next chunk is read and converted; a buffer is refilled only after its hash is done. The single worker
        # hashes in submission (file) order, and leaving the executor waits for it.
        buffers = [bytearray(per_chunk * record_bytes) for _ in range(2)]
        threaded = max_threads() >= 2  # CDS_THREADS=1: hash in this thread
        digest = hashlib.sha256()
        with self.path.open("rb") as fh, ThreadPoolExecutor(max_workers=1) as hasher:

            def hash_bytes(data: bytes | memoryview) -> Future | None:
                if threaded:
                    return hasher.submit(digest.update, data)
                digest.update(data)
                return None

            hash_bytes(fh.read(header.header_bytes))
            pending: list[Future | None] = [None, None]
            done, turn = 0, 0
            while done < n_records:
                k = min(per_chunk, n_records - done)
                nbytes = k * record_bytes
                buffer = buffers[turn]
                previous = pending[turn]
                if previous is not None:
                    previous.result()
                view = memoryview(buffer)[:nbytes]
                if fh.readinto(view) != nbytes:
                    return None  # shorter than the header said: leave the diagnosis to pyedflib
                pending[turn] = hash_bytes(view)
                block = np.frombuffer(buffer, dtype="<i2", count=k * record_samples).reshape(k, record_samples)
                for _, start, width, table, out in plan:
                    # each 16-bit sample picks its value from the table (its bits read as an unsigned index)
                    digital = block[:, start : start + width].view(np.uint16)
                    np.take(table, digital, out=out[done * width : (done + k) * width].reshape(k, width), mode="clip")
                done += k
                turn = 1 - turn
            for rest in iter(lambda: fh.read(_CHUNK_BYTES), b""):
                hash_bytes(rest)
        for pos, _, width, _, out in plan:
            for at in (0, (out.size // 2) // width * width, max(0, out.size - width)):
                check = py.readSignal(pos, at, min(width, out.size - at), digital=False)
                if scales[pos] != 1.0:
                    check *= scales[pos]
                if not np.array_equal(check.astype(np.float32), out[at : at + check.size]):
                    log.warning("direct read of signal %d of %s differs from pyedflib; using pyedflib", pos, self.path)
                    return None
        self.sha256 = digest.hexdigest()
        return {pos: out for pos, *_, out in plan}

    def annotations(self) -> tuple[Annotation, ...]:
        """The file's EDF+ annotations; RecordingError when its annotation signal cannot be parsed."""
        try:
            if self._py is not None:
                return _annotations_pyedflib(self._py)
            return _annotations_edfio(self._edf)
        except Exception as exc:  # the readers raise ValueError, UnicodeDecodeError, ... on malformed TALs
            raise RecordingError(
                f"the EDF+ annotation signal cannot be read ({self.name}: {type(exc).__name__}: {exc})",
                path=self.path,
                hint="is a data signal labelled 'EDF Annotations', or the annotation signal corrupted?",
            ) from exc

    def close(self) -> None:
        if self._py is not None:
            self._py.close()
            self._py = None
        self._edf = None


def _signal_scale(reader: _Reader, header: EdfHeader, role: ChannelRole, label: str) -> tuple[int, float]:
    """Header index of ``label`` and its factor to µV; SignalError when its values cannot be scaled."""
    idx = header.labels.index(label)
    unit = header.units[idx]
    scale = uv_scale_for(unit)
    if scale is None:
        raise SignalError(
            f"unknown physical unit {unit!r} for the {role.value} channel {label!r}",
            path=reader.path,
            location=label,
            hint="allowed: V, mV, µV/uV, nV",
        )
    if header.digital_max[idx] <= header.digital_min[idx] or header.physical_min[idx] == header.physical_max[idx]:
        raise SignalError(
            f"the {role.value} channel {label!r} has an empty range (digital {header.digital_min[idx]} to "
            f"{header.digital_max[idx]}, physical {header.physical_min[idx]:g} to {header.physical_max[idx]:g}): "
            "its values cannot be scaled",
            path=reader.path,
            location=label,
        )
    widest = max(abs(header.physical_min[idx]), abs(header.physical_max[idx])) * scale
    if widest > MAX_PHYSICAL_UV:
        raise SignalError(
            f"the {role.value} channel {label!r} has physical limits of {widest:g} µV: not an EMG range "
            f"(at most {MAX_PHYSICAL_UV:g} µV)",
            path=reader.path,
            location=label,
        )
    return idx, scale


def _read_signals(reader: _Reader, header: EdfHeader, labels: Mapping[ChannelRole, str]) -> dict[ChannelRole, Signal]:
    """Check every requested channel first (so a bad unit fails before any sample is read), then read them all
    in one pass and scale to µV in place."""
    scales = {role: _signal_scale(reader, header, role, label) for role, label in labels.items()}
    physical = reader.read_physical_many({header.data_index.index(idx): scale for idx, scale in scales.values()})
    signals, used = {}, set()
    for role, (idx, scale) in scales.items():
        label, pos = labels[role], header.data_index.index(idx)
        data_uv = physical[pos] if pos not in used else physical[pos].copy()  # one array per role
        used.add(pos)
        lo, hi = sorted((header.physical_min[idx] * scale, header.physical_max[idx] * scale))
        sfreq_hz = header.samples_per_record[idx] / header.record_duration_s
        log.info(
            "read %s channel %r: %d samples at %g Hz, unit %r x %g -> µV",
            role.value,
            label,
            data_uv.size,
            sfreq_hz,
            header.units[idx],
            scale,
        )
        resolution_uv = (hi - lo) / (header.digital_max[idx] - header.digital_min[idx])
        signals[role] = Signal(label, role, data_uv, sfreq_hz, header.units[idx], lo, hi, resolution_uv)
    return signals


def _role_caveats(name: str, wanted: tuple[ChannelRole, ...], roles: Mapping[ChannelRole, str | None]) -> list[Caveat]:
    caveats = [
        Caveat("channel_missing", f"{name}: no {role.value} channel found among the signal labels", role.value)
        for role in wanted
        if roles.get(role) is None and role not in OPTIONAL_ROLES
    ]
    legs = (ChannelRole.LEFT_LEG, ChannelRole.RIGHT_LEG)
    found_legs = [r for r in legs if r in wanted and roles.get(r) is not None]
    if all(r in wanted for r in legs) and len(found_legs) == 1:
        caveats.append(
            Caveat(
                "one_leg_only",
                f"{name}: only the {found_legs[0].value} EMG is present; bilateral leg movements cannot be combined",
                found_legs[0].value,
            )
        )
    return caveats


def _check_discontinuous(path: Path, header: EdfHeader) -> list[Caveat]:
    """EDF+D: accept only when the records are in fact contiguous (many systems write +D without gaps)."""
    if not header.edf_type.endswith("+D"):
        return []
    onsets = read_record_onsets(path, header)
    expected = onsets[0] + np.arange(onsets.size) * header.record_duration_s
    gaps = np.flatnonzero(np.abs(onsets - expected) > 1e-6)
    if gaps.size:
        k = int(gaps[0])
        raise RecordingError(
            f"{header.edf_type} (discontinuous) recording: data record {k} starts at {onsets[k]:g} s, "
            f"expected {expected[k]:g} s; cds does not reconstruct gaps",
            path=path,
            hint="export the recording as continuous EDF/EDF+C, or split it at the gaps",
        )
    return [
        Caveat(
            "edf_plus_d_contiguous",
            f"{path.name}: marked EDF+D but its {onsets.size} data records are contiguous; read as continuous",
        )
    ]


def read_recording(
    path: str | Path,
    *,
    roles: Iterable[ChannelRole] = tuple(ChannelRole),
    overrides: Mapping[ChannelRole, str] | None = None,
) -> Recording:
    """Read the channels of ``roles`` from an EDF/EDF+C file, in µV, plus its annotations.

    Raises: RecordingError (missing, not an EDF, truncated, EDF+D with gaps, unreadable, override label absent),
    SignalError (unknown physical unit of a needed channel), InputError (ambiguous channel role).
    Missing roles stay None in ``roles`` and get a ``channel_missing`` caveat.
    """
    path = Path(path)
    header = read_header(path)
    caveats = _check_discontinuous(path, header)
    data_labels = tuple(header.labels[i] for i in header.data_index)
    if not data_labels:
        raise RecordingError(
            f"{header.edf_type} file without signals (annotations only): a hypnogram or event file, not a recording",
            path=path,
            hint="pass it as the hypnogram or events file",
        )
    if header.n_records == 0:
        raise RecordingError("no data records: the recording is empty", path=path)
    wanted = tuple(ChannelRole(r) for r in roles)
    resolved = resolve_channel_roles(data_labels, overrides, path=path)
    reader = _Reader(path, header)
    try:
        chosen = {role: label for role in wanted if (label := resolved.get(role)) is not None}
        signals = _read_signals(reader, header, chosen)
        annotations = reader.annotations()
    finally:
        reader.close()
    caveats.extend(_role_caveats(path.name, wanted, resolved))
    if header.start is None:
        caveats.append(Caveat("start_time_unknown", f"{path.name}: the header start date/time cannot be parsed"))
    if header.start_note:
        caveats.append(Caveat("start_date_conflict", f"{path.name}: {header.start_note}; the header date is used"))
    return Recording(
        path=path,
        name=path.name,
        sha256=reader.sha256 or sha256_of(path),
        duration_s=header.duration_s,
        start=header.start,
        edf_type=header.edf_type,
        reader=reader.name,
        labels=data_labels,
        roles=resolved,
        signals=signals,
        annotations=annotations,
        caveats=tuple(caveats),
    )


def read_annotations(path: str | Path) -> tuple[Annotation, ...]:
    """Read the annotations of an EDF+ file (annotation-only files with 0 signals included)."""
    path = Path(path)
    header = read_header(path)
    if not header.edf_type.startswith(("EDF+", "BDF+")):
        return ()
    reader = _Reader(path, header)
    try:
        return reader.annotations()
    finally:
        reader.close()


def read_start(path: str | Path) -> datetime | None:
    """Start date and time from the header of an EDF file, or None when it cannot be parsed."""
    return read_header(Path(path)).start
