from __future__ import annotations

import pytest

from cds.errors import InputError, RecordingError, UsageError
from cds.io.channels import ChannelRole, normalise_label, parse_channel_overrides, resolve_channel_roles

L, R, C = ChannelRole.LEFT_LEG, ChannelRole.RIGHT_LEG, ChannelRole.CHIN

# (labels in the file, expected left, right, chin)
ALIAS_CASES = [
    (["LAT", "RAT", "Chin"], "LAT", "RAT", "Chin"),
    (["Leg L", "Leg R", "EMG Chin"], "Leg L", "Leg R", "EMG Chin"),
    (["Left Leg", "Right Leg", "EMG submental"], "Left Leg", "Right Leg", "EMG submental"),
    (["EMG Tib-L", "EMG Tib-R", "EMG1-EMG2"], "EMG Tib-L", "EMG Tib-R", "EMG1-EMG2"),
    (["LLEG", "RLEG", "Chin1-Chin2"], "LLEG", "RLEG", "Chin1-Chin2"),
    (["L Leg", "Tib R", "Chin 1-Chin 2"], "L Leg", "Tib R", "Chin 1-Chin 2"),
    (["Tib L", "C3-M2", "chin"], "Tib L", None, "chin"),
    (["TIB-L", "TIB-R"], "TIB-L", "TIB-R", None),
    (["LEG1", "ECG"], "LEG1", None, None),
    (["SX1-SX2", "DX1-DX2", "ROC-LOC"], "SX1-SX2", "DX1-DX2", None),
    (["  lat  ", "r-a-t", "CHIN"], "  lat  ", "r-a-t", "CHIN"),
    (["EMG-LAT", "EMG_RAT", "Chin EMG"], "EMG-LAT", "EMG_RAT", "Chin EMG"),
    (["Leg L EMG", "Leg R-EMG", "EMG"], "Leg L EMG", "Leg R-EMG", None),
    # Nox A1: chin electrodes '1', '2' and derivation '1-2'
    (["1", "2", "1-2", "1-F", "Left Leg", "Right Leg"], "Left Leg", "Right Leg", "1-2"),
    # '1-2' without the Nox set is not trusted as chin
    (["1-2", "Left Leg"], "Left Leg", None, None),
    # a bipolar derivation wins over a single electrode
    (["Chin", "Chin1-Chin2"], None, None, "Chin1-Chin2"),
    ([], None, None, None),
    (["EEG Fpz-Cz", "EOG horizontal", "Resp oro-nasal"], None, None, None),
]


@pytest.mark.parametrize(("labels", "left", "right", "chin"), ALIAS_CASES)
def test_aliases_resolve_to_the_expected_labels(labels, left, right, chin):
    assert resolve_channel_roles(labels) == {L: left, R: right, C: chin}  # optional FDS roles: only when found


@pytest.mark.parametrize(
    ("labels", "left_fds", "right_fds"),
    [
        (["Leg L", "Leg R", "Chin", "EMG FDS-L", "EMG FDS-R"], "EMG FDS-L", "EMG FDS-R"),
        (["LAT", "RAT", "Arm L", "Arm R"], "Arm L", "Arm R"),
        (["LAT", "FDS L", "Arm L"], None, None),  # two candidates for an optional role: neither, no error
    ],
)
def test_fds_roles_are_optional_and_found_by_alias(labels, left_fds, right_fds):
    roles = resolve_channel_roles(labels)
    assert (roles.get(ChannelRole.LEFT_FDS), roles.get(ChannelRole.RIGHT_FDS)) == (left_fds, right_fds)


def test_normalise_label_drops_prefix_case_and_punctuation():
    assert normalise_label("EMG Tib-L") == "tibl"
    assert normalise_label("EMG1-EMG2") == "emg1emg2"
    assert normalise_label(" Chin 1-Chin 2 ") == "chin1chin2"
    assert normalise_label("Chin EMG") == "chin"


def test_two_unipolar_candidates_are_ambiguous_and_hint_the_option():
    with pytest.raises(InputError, match=r"rec\.edf:left_leg: ambiguous left_leg channel: 'LAT', 'Leg L'.*--channel"):
        resolve_channel_roles(["LAT", "Leg L", "RAT"], path="rec.edf")


def test_two_bipolar_candidates_are_ambiguous():
    with pytest.raises(InputError, match="ambiguous chin channel"):
        resolve_channel_roles(["EMG1-EMG2", "Chin1-Chin2"])


def test_override_settles_an_ambiguity_and_keeps_other_roles():
    roles = resolve_channel_roles(["LAT", "Leg L", "RAT"], {L: "Leg L"})
    assert roles == {L: "Leg L", R: "RAT", C: None}


def test_override_may_name_any_label_case_insensitively():
    assert resolve_channel_roles(["EMG L", "EMG R"], {L: "emg l", R: "EMG R"})[L] == "EMG L"


def test_override_with_absent_label_lists_the_labels():
    with pytest.raises(RecordingError, match=r"x\.edf:left_leg: --channel left_leg='EMG L': no such signal.*'LAT'"):
        resolve_channel_roles(["LAT", "RAT"], {L: "EMG L"}, path="x.edf")


def test_parse_channel_overrides_reads_role_equals_label():
    assert parse_channel_overrides(["left_leg=EMG L", "right-leg = EMG R ", "chin=1-2"]) == {
        L: "EMG L",
        R: "EMG R",
        C: "1-2",
    }
    assert parse_channel_overrides([]) == {}


def test_parse_channel_overrides_keeps_equals_sign_in_label():
    assert parse_channel_overrides(["chin=A=B"]) == {C: "A=B"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("leftleg=EMG L", r"unknown channel role 'leftleg'.*allowed roles: left_leg, right_leg, chin, left_fds"),
        ("left_leg", r"bad channel override 'left_leg': expected ROLE=LABEL"),
        ("left_leg=  ", r"bad channel override"),
    ],
)
def test_parse_channel_overrides_rejects_bad_items_as_usage_errors(item, message):
    with pytest.raises(UsageError, match=message):
        parse_channel_overrides([item])


@pytest.mark.parametrize("items", [["chin=A", "chin=B"], ["chin=A", "chin=A"], ["chin=A", "Chin=B"]])
def test_a_role_given_twice_is_a_usage_error_even_with_the_same_label(items):
    """Regression (issue 16): the last of two --channel ROLE=... silently won."""
    with pytest.raises(UsageError, match="channel role chin given twice"):
        parse_channel_overrides(items)


@pytest.mark.parametrize("items", [["left_leg=LAT", "right_leg=LAT"], ["left_leg=lat", "right_leg= LAT "]])
def test_one_label_for_two_roles_is_a_usage_error(items):
    """Regression (issue 16): one signal given as both legs made every movement bilateral (PLMS 45 -> 8.3/h)."""
    with pytest.raises(UsageError, match=r"label 'LAT' given for both left_leg and right_leg|given for both"):
        parse_channel_overrides(items)


def test_mapping_overrides_go_through_the_same_checks():
    with pytest.raises(UsageError, match="given for both"):
        parse_channel_overrides({"left_leg": "LAT", "right_leg": "LAT"})
    with pytest.raises(UsageError, match="unknown channel role 'toe'"):
        parse_channel_overrides({"toe": "LAT"})
    assert parse_channel_overrides({L: "LAT"}) == {L: "LAT"}


def test_a_label_named_for_one_role_is_not_taken_for_another_by_its_name():
    # LAT is the left-leg alias; named as the right leg it cannot also be found as the left leg
    roles = resolve_channel_roles(["LAT", "Chin"], {R: "LAT"})
    assert roles == {L: None, R: "LAT", C: "Chin"}


@pytest.mark.parametrize(
    ("labels", "left", "right", "chin"),
    [
        (["Tibialis L", "Tibialis R", "Chin1-Chin2", "Chin1", "Chin2"], "Tibialis L", "Tibialis R", "Chin1-Chin2"),
        (["PLM L", "PLM R", "CHIN1"], "PLM L", "PLM R", "CHIN1"),
        (["LLEG1-LLEG2", "RLEG1-RLEG2", "EMG Chin"], "LLEG1-LLEG2", "RLEG1-RLEG2", "EMG Chin"),
        (["LAT-LAT2", "RAT-RAT2"], "LAT-LAT2", "RAT-RAT2", None),
        (
            ["Left anterior tibialis", "Right anterior tibialis", "Mentalis"],
            "Left anterior tibialis",
            "Right anterior tibialis",
            "Mentalis",
        ),
        (["EEG C3-M2", "ECG L", "EOG LOC", "Resp Abdomen", "Light", "Leg"], None, None, None),
    ],
)
def test_labels_outside_the_alias_table_resolve_by_pattern(labels, left, right, chin):
    """Regression (issue 2, unseen files): a leg word with one side marker, or a chin word, names the role."""
    roles = resolve_channel_roles(labels)
    assert (roles[ChannelRole.LEFT_LEG], roles[ChannelRole.RIGHT_LEG], roles[ChannelRole.CHIN]) == (left, right, chin)


def test_alias_table_wins_over_the_pattern():
    roles = resolve_channel_roles(["LAT", "Tibialis L", "RAT"])
    assert roles[ChannelRole.LEFT_LEG] == "LAT" and roles[ChannelRole.RIGHT_LEG] == "RAT"
