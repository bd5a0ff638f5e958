"""Raw EDF/EDF+ header parsing (Kemp et al. 1992; Kemp & Olivan 2003, EDF+ specification).

We parse the fixed-width ASCII header ourselves before handing the file to a reader: it is cheap, it lets us
refuse a non-EDF, a truncated or a discontinuous file with a precise reason, and it decodes labels and units
that carry non-ASCII bytes (UTF-8 or ISO-8859-1) which pyedflib rejects.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from cds.errors import RecordingError

__all__ = ["EdfHeader", "read_header", "read_record_onsets"]

ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
MAX_RECORDING_S = 31 * 86400.0  # a recording longer than a month is a header error (or not a PSG)
DIGITAL_RANGE = {"EDF": (-32768, 32767), "BDF": (-8388608, 8388607)}  # 16-bit and 24-bit two's complement
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_PLUS_DATE = re.compile(r"^Startdate (\d{2})-([A-Z]{3})-(\d{4})\b")


@dataclass(frozen=True)
class EdfHeader:
    """The header fields cds uses. Signal lists include annotation signals; ``data_index`` skips them."""

    file_format: str  # "EDF" or "BDF"
    edf_type: str  # "EDF", "EDF+C", "EDF+D" (or BDF variants)
    header_bytes: int
    n_records: int
    record_duration_s: float
    labels: tuple[str, ...]
    units: tuple[str, ...]
    physical_min: tuple[float, ...]
    physical_max: tuple[float, ...]
    digital_min: tuple[int, ...]
    digital_max: tuple[int, ...]
    samples_per_record: tuple[int, ...]
    start: datetime | None
    file_bytes: int
    start_note: str | None = None  # the two start-date fields disagree

    @property
    def data_index(self) -> tuple[int, ...]:
        """Indices (into the header lists) of the ordinary signals, in reader order."""
        return tuple(i for i, lab in enumerate(self.labels) if lab not in ANNOTATION_LABELS)

    @property
    def duration_s(self) -> float:
        return self.n_records * self.record_duration_s


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def _fields(block: bytes, n: int, width: int, offset: int) -> tuple[list[str], int]:
    out = [_decode(block[offset + i * width : offset + (i + 1) * width]) for i in range(n)]
    return out, offset + n * width


def _number(text: str, what: str, path: Path, cast: type = float) -> float:
    try:
        return cast(text.strip())
    except ValueError:
        raise RecordingError(f"not a valid EDF header: {what} is {text.strip()!r}", path=path) from None


def _parse_start(date_text: str, time_text: str, recording: str) -> tuple[datetime | None, str | None]:
    """Start from the dd.mm.yy / hh.mm.ss fields; the EDF+ 'Startdate dd-MMM-yyyy' gives the century.

    Returns the start and, when the two date fields disagree, a note saying so (the header field is kept).
    """
    try:
        day, month, yy = (int(p) for p in date_text.split("."))
        hour, minute, second = (int(p) for p in time_text.split("."))
    except ValueError:
        return None, None
    year = 1900 + yy if yy >= 85 else 2000 + yy  # EDF clipping date 1985-2084
    note = None
    plus = _PLUS_DATE.match(recording)
    if plus and plus.group(2) in _MONTHS:
        p_day, p_month, p_year = int(plus.group(1)), _MONTHS.index(plus.group(2)) + 1, int(plus.group(3))
        if (p_day, p_month, p_year % 100) == (day, month, yy):
            year = p_year
        else:
            note = f"start date {date_text.strip()} differs from the EDF+ recording field {plus.group(0)!r}"
    try:
        return datetime(year, month, day, hour, minute, second), note
    except ValueError:
        return None, None


def _check_signal_fields(fields: tuple, file_format: str, path: Path) -> None:
    """Every signal's header numbers are usable: physical limits finite, digital limits within the format's
    sample range, at least one sample per data record (a 0 breaks the record layout of every signal after it)."""
    labels, _, physical_min, physical_max, digital_min, digital_max, samples = fields
    low, high = DIGITAL_RANGE[file_format]
    for i, label in enumerate(labels):
        for name, value in (("physical minimum", physical_min[i]), ("physical maximum", physical_max[i])):
            if not math.isfinite(value):
                raise RecordingError(
                    f"not a valid EDF header: {name} of {label!r} is {value!r}", path=path, location=f"signal {i + 1}"
                )
        for name, value in (("digital minimum", digital_min[i]), ("digital maximum", digital_max[i])):
            if not low <= value <= high:
                raise RecordingError(
                    f"not a valid EDF header: {name} of {label!r} is {value}, outside the {file_format} sample "
                    f"range {low} to {high}",
                    path=path,
                    location=f"signal {i + 1}",
                )
        if samples[i] < 1:
            raise RecordingError(
                f"not a valid EDF header: samples per data record of {label!r} is {samples[i]} (at least 1)",
                path=path,
                location=f"signal {i + 1}",
            )


def _signal_fields(block: bytes, ns: int, path: Path) -> tuple:
    """Labels, units, physical and digital ranges, samples per record."""
    labels, off = _fields(block, ns, 16, 0)
    _, off = _fields(block, ns, 80, off)  # transducer
    units, off = _fields(block, ns, 8, off)
    fields = {}
    for name in ("physical minimum", "physical maximum", "digital minimum", "digital maximum"):
        texts, off = _fields(block, ns, 8, off)
        cast = int if name.startswith("digital") else float
        fields[name] = tuple(_number(t, f"{name} of {lab!r}", path, cast) for t, lab in zip(texts, labels, strict=True))
    _, off = _fields(block, ns, 80, off)  # prefiltering
    spr, off = _fields(block, ns, 8, off)
    samples = tuple(
        int(_number(t, f"samples per record of {lab!r}", path, int)) for t, lab in zip(spr, labels, strict=True)
    )
    return tuple(labels), tuple(units), *fields.values(), samples


def _samples_text(labels: tuple[str, ...], samples: tuple[int, ...]) -> str:
    shown = ", ".join(f"{lab!r} {n}" for lab, n in list(zip(labels, samples, strict=True))[:6])
    return f"samples per record: {shown}{', ...' if len(labels) > 6 else ''}"


def read_header(path: Path) -> EdfHeader:
    """Parse and check the header of ``path``. Raises RecordingError: missing, not an EDF, truncated."""
    if not path.exists():
        raise RecordingError("file not found", path=path)
    if not path.is_file():
        raise RecordingError("not a file", path=path)
    file_bytes = path.stat().st_size
    with path.open("rb") as fh:
        fixed = fh.read(256)
        if len(fixed) < 256:
            raise RecordingError(f"not an EDF file: {file_bytes} bytes, shorter than the 256-byte header", path=path)
        if fixed[:8] == b"0       ":
            file_format, bytes_per_sample = "EDF", 2
        elif fixed[:8] == b"\xffBIOSEMI":
            file_format, bytes_per_sample = "BDF", 3
        else:
            raise RecordingError(f"not an EDF file: version field is {fixed[:8]!r}, expected b'0       '", path=path)
        n_signals = int(_number(fixed[252:256].decode("latin-1"), "number of signals", path, int))
        header_bytes = int(_number(fixed[184:192].decode("latin-1"), "header size", path, int))
        if n_signals < 0 or header_bytes != 256 * (n_signals + 1):
            raise RecordingError(
                f"not a valid EDF header: header size {header_bytes} does not match {n_signals} signals", path=path
            )
        block = fh.read(header_bytes - 256)
    if len(block) < header_bytes - 256:
        raise RecordingError(f"truncated file: header needs {header_bytes} bytes, file has {file_bytes}", path=path)
    fields = _signal_fields(block, n_signals, path)
    _check_signal_fields(fields, file_format, path)
    labels, units, physical_min, physical_max, digital_min, digital_max, samples = fields
    reserved = fixed[192:236].decode("latin-1").strip()
    edf_type = file_format
    if reserved.startswith(("EDF+C", "EDF+D", "BDF+C", "BDF+D")):
        edf_type = file_format + reserved[3:5]
    record_duration_s = float(_number(fixed[244:252].decode("latin-1"), "data-record duration", path))
    if not math.isfinite(record_duration_s) or record_duration_s < 0:
        raise RecordingError(f"not a valid EDF header: data-record duration {record_duration_s:g} s", path=path)
    if record_duration_s == 0 and any(lab not in ANNOTATION_LABELS for lab in labels):
        raise RecordingError(f"not a valid EDF header: data-record duration {record_duration_s:g} s", path=path)
    if record_duration_s > MAX_RECORDING_S:
        raise RecordingError(f"not a valid EDF header: data-record duration {record_duration_s:g} s", path=path)
    record_bytes = sum(samples) * bytes_per_sample
    n_records = int(_number(fixed[236:244].decode("latin-1"), "number of data records", path, int))
    available = (file_bytes - header_bytes) // record_bytes if record_bytes else 0
    if n_records < -1:
        raise RecordingError(f"not a valid EDF header: number of data records is {n_records}", path=path)
    if n_records == -1:  # recording not closed properly; the file size tells
        n_records = available
    elif available < n_records:
        raise RecordingError(
            f"truncated file: header announces {n_records} data records, the file holds {available} complete ones "
            f"({file_bytes} bytes, expected {header_bytes + n_records * record_bytes})",
            path=path,
        )
    if n_records * record_duration_s > MAX_RECORDING_S:
        raise RecordingError(
            f"the header describes {n_records} data records of {record_duration_s:g} s, "
            f"{n_records * record_duration_s / 86400:.1f} days: longer than any recording cds reads (31 days)",
            path=path,
        )
    extra = file_bytes - header_bytes - n_records * record_bytes
    if record_bytes and n_records and extra:
        raise RecordingError(
            f"file size {file_bytes} bytes does not match its header: {header_bytes} header bytes + {n_records} data "
            f"records of {record_bytes} bytes = {header_bytes + n_records * record_bytes} "
            f"({_samples_text(labels, samples)})",
            path=path,
            hint="a samples-per-record or record-count field is wrong, or the file was cut or appended to",
        )
    start, start_note = _parse_start(
        fixed[168:176].decode("latin-1"), fixed[176:184].decode("latin-1"), _decode(fixed[88:168])
    )
    return EdfHeader(
        file_format=file_format,
        edf_type=edf_type,
        header_bytes=header_bytes,
        n_records=n_records,
        record_duration_s=record_duration_s,
        labels=labels,
        units=units,
        physical_min=physical_min,
        physical_max=physical_max,
        digital_min=digital_min,
        digital_max=digital_max,
        samples_per_record=samples,
        start=start,
        file_bytes=file_bytes,
        start_note=start_note,
    )


def read_record_onsets(path: Path, header: EdfHeader) -> np.ndarray:
    """Onset (s) of each data record from its time-keeping TAL (EDF+ §2.2.4), read without loading the signals."""
    ann = [i for i, lab in enumerate(header.labels) if lab in ANNOTATION_LABELS]
    if not ann or header.n_records == 0:
        return np.arange(header.n_records) * header.record_duration_s
    bps = 3 if header.file_format == "BDF" else 2
    record_bytes = sum(header.samples_per_record) * bps
    start = sum(header.samples_per_record[: ann[0]]) * bps
    width = header.samples_per_record[ann[0]] * bps
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=header.header_bytes, shape=(header.n_records, record_bytes))
    onsets = np.empty(header.n_records)
    for k in range(header.n_records):  # one short parse per data record, not per sample
        tal = bytes(data[k, start : start + min(width, 40)]).split(b"\x14", 1)[0]
        try:
            onsets[k] = float(tal.decode("ascii"))
        except ValueError:
            raise RecordingError(
                f"data record {k} has no time-keeping annotation (got {tal[:20]!r})", path=path
            ) from None
    return onsets
