"""Fuzzed command lines for ``cds analyze`` and ``cds triage``: every combination of good, missing, malformed,
contradictory and dangerous options either runs or is refused (exit 2 for usage, 3 for inputs) with one line;
never an internal error. Inputs are never changed; a refused triage logs nothing and leaves its output folder
as it was; a delivered one is in the log, which stays verifiable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzzkit import TRIED, assert_clean_exit, fuzz, run_cds, snapshot

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"), pytest.mark.filterwarnings("error::UserWarning")]

REPO = Path(__file__).resolve().parents[2]
CHANNELS = [
    "left_leg=Leg L",
    "right_leg=Leg R",
    "chin=Chin",
    "left_leg=Leg R",
    "right_leg=Leg L",
    "left_leg=Nope",
    "Leg L",
    "=x",
    "left_leg=",
    "knee=x",
    "left_leg=leg l",
    "right-leg=Leg R",
    "chin=Leg L",
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fuzz_night) -> dict[str, Path]:
    """Good and bad input files, shared by every example (none may be changed by a run)."""
    folder = tmp_path_factory.mktemp("inputs")
    files = {
        "night": fuzz_night[0],
        "patient": REPO / "examples" / "demo-patient.yaml",
        "stages": folder / "stages.csv",
        "events": folder / "events.csv",
        "labels": folder / "labels.yaml",
        "bad_labels": folder / "bad-labels.yaml",
        "nan_patient": folder / "nan.yaml",
        "bad_stages": folder / "bad-stages.csv",
        "text": folder / "notes.txt",
        "folder": folder / "a-folder",
    }
    files["stages"].write_text("onset,duration,stage\n0,60,W\n60,120,N2\n", encoding="utf-8")
    files["events"].write_text("onset_s,duration_s,type\n70,12,Obstructive apnea\n100,3,Arousal\n", encoding="utf-8")
    files["labels"].write_text("stages:\n  N2: [stade 2]\n", encoding="utf-8")
    files["bad_labels"].write_text("stages:\n  N2: [wake]\n", encoding="utf-8")
    files["nan_patient"].write_text(files["patient"].read_text(encoding="utf-8").replace("58", ".nan"), "utf-8")
    files["bad_stages"].write_text("onset,duration,stage\n0,60,W\n60,120,N5\n", encoding="utf-8")
    files["text"].write_text("not an EDF\n", encoding="utf-8")
    files["folder"].mkdir()
    return files


def _digest(paths: dict[str, Path]) -> dict[str, str]:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items() if p.is_file()}


GOOD_CHANNELS = ["left_leg=Leg L", "right_leg=Leg R", "chin=Chin", "left_leg=leg l", "right-leg=Leg R"]


def _pick(draw, good: list[str], bad: list[str]) -> str:
    """Mostly a good value (so the run goes deep), now and then a bad one."""
    return draw(st.sampled_from(bad)) if draw(st.integers(0, 6)) == 0 else draw(st.sampled_from(good))


def _maybe(draw, chance: int = 2) -> bool:
    return draw(st.integers(0, chance - 1)) == 0


def _channels(draw) -> list[tuple[str, str | None]]:
    if not _maybe(draw, 3):
        return []
    if _maybe(draw, 4):  # anything goes: repeated roles, one label for two roles, malformed items
        items = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3))
    else:
        items = draw(st.lists(st.sampled_from(GOOD_CHANNELS[:3]), min_size=1, max_size=3, unique=True))
    return [("--channel", f"={item}") for item in items]


def _side_files(draw) -> list[tuple[str, str | None]]:
    args: list[tuple[str, str | None]] = []
    for option, good in (("--hypnogram", "stages"), ("--events", "events")):
        if _maybe(draw):
            args.append((option, _pick(draw, [good], ["missing", "folder", "night", "bad_stages", "text"])))
    if _maybe(draw, 4):
        args.append(("--standard", f"={_pick(draw, ['aasm', 'wasm2016'], ['rk', ''])}"))
    if _maybe(draw, 5):
        args.append(("--stage-labels", _pick(draw, ["labels"], ["bad_labels", "missing"])))
    return [*args, *_channels(draw)]


@st.composite
def analyze_args(draw) -> list[tuple[str, str | None]]:
    args: list[tuple[str, str | None]] = [("", _pick(draw, ["night"], ["missing", "text", "folder"]))]
    args += _side_files(draw)
    if _maybe(draw):
        args.append(("--json", _pick(draw, ["=-", "out:a.json"], ["folder", "night", "under"])))
    if _maybe(draw, 3):
        args.append(
            ("--export-events", _pick(draw, ["out:e.csv", "out:e.edf"], ["out:e.txt", "folder", "night", "under"]))
        )
    if _maybe(draw, 15):
        args.append(("--frobnicate", None))
    return draw(st.permutations(args))


@st.composite
def triage_args(draw) -> list[tuple[str, str | None]]:
    args: list[tuple[str, str | None]] = [
        ("--patient", _pick(draw, ["patient"], ["nan_patient", "missing", "folder", "night"]))
    ]
    with_recording = _maybe(draw)
    if with_recording:
        args.append(("--recording", _pick(draw, ["night"], ["missing", "text", "folder"])))
    if with_recording or _maybe(draw, 8):
        args += _side_files(draw)
    args.append(("--out", _pick(draw, ["out:new", "out:earlier"], ["night", "under", "stages"])))
    if _maybe(draw, 3):
        args.append(("--date", f"={_pick(draw, ['2026-01-02'], ['notadate', '2026-02-30', ''])}"))
    args.append(("--log", _pick(draw, ["log"], ["folder", "patient", "under"])))
    if _maybe(draw, 15):
        args.append(("--pdf", None))
    return draw(st.permutations(args))


def _resolve(args: list[tuple[str, str | None]], files: dict[str, Path], work: Path) -> list[str]:
    argv = []
    for option, value in args:
        if option:
            argv.append(option)
        if value is None:
            continue
        if value.startswith("="):
            argv.append(value[1:])
        elif value.startswith("out:"):
            argv.append(str(work / value[4:]))
        elif value == "missing":
            argv.append(str(work / "missing.edf"))
        elif value == "under":
            argv.append(str(work / "blocker" / "x"))
        elif value == "log":
            argv.append(str(work / "log.sqlite"))
        else:
            argv.append(str(files[value]))
    return argv


def _workspace(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    (work / "blocker").write_text("a file where a folder is expected\n", encoding="utf-8")
    (work / "earlier").mkdir()
    (work / "earlier" / "letter.md").write_text("an earlier letter\n", encoding="utf-8")
    (work / "earlier" / "notes.txt").write_text("the user's own file\n", encoding="utf-8")
    return work


@fuzz(80)
@given(args=analyze_args())
def test_fuzzed_analyze_command_lines(tmp_path_factory, inputs, args):
    TRIED["analyze command lines"] += 1
    work = _workspace(tmp_path_factory)
    argv = ["analyze", *_resolve(args, inputs, work)]
    before = _digest(inputs)
    ran = run_cds(argv)
    assert_clean_exit(ran)
    assert _digest(inputs) == before, argv
    if ran.code != 0:
        assert not (work / "a.json").exists() and not (work / "e.csv").exists() and not (work / "e.edf").exists()


@fuzz(40)
@given(args=triage_args())
def test_fuzzed_triage_command_lines(tmp_path_factory, inputs, args):
    from cds.audit.log import DecisionLog

    TRIED["triage command lines"] += 1
    work = _workspace(tmp_path_factory)
    log = work / "log.sqlite"
    DecisionLog(log).append({"schema": "cds.decision/v1", "patient_id": "P-0", "inputs": {}}, patient_text="x\n")
    argv = ["triage", *_resolve(args, inputs, work)]
    before, earlier = _digest(inputs), snapshot(work / "earlier")
    ran = run_cds(argv)
    assert_clean_exit(ran)
    assert _digest(inputs) == before, argv
    records = list(DecisionLog(log).entries())
    assert DecisionLog(log).verify().ok
    out = Path(argv[argv.index("--out") + 1])
    if ran.code == 0:
        assert len(records) == 2 and records[-1].delivery_failure is None
        names = {"decision.json", "letter.html", "letter.md"} | ({"analysis.json"} if "--recording" in argv else set())
        assert {p.name for p in out.iterdir() if p.name != "notes.txt"} == names
    else:
        assert len(records) == 1, argv
        assert snapshot(work / "earlier") == earlier
        assert not (work / "new").exists()
