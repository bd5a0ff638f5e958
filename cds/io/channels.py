"""Channel roles and the label aliases real PSG files use for them.

AASM Manual (v2.6) §VII: leg movements are scored on surface EMG of the left and right anterior tibialis;
the chin (submental) EMG serves REM-atonia and arousal context. Labels differ per vendor, so a file's labels
are matched against an alias table, case-, space- and punctuation-insensitively. We never guess between two
candidates for one role: a bipolar derivation wins over its single electrodes, otherwise the user must say
which one with ``--channel ROLE=LABEL``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

from cds.errors import InputError, RecordingError, UsageError

__all__ = ["OPTIONAL_ROLES", "ChannelRole", "normalise_label", "parse_channel_overrides", "resolve_channel_roles"]

log = logging.getLogger(__name__)


class ChannelRole(StrEnum):
    """What a channel is used for. Values are the CLI spellings of ``--channel ROLE=LABEL``."""

    LEFT_LEG = "left_leg"
    RIGHT_LEG = "right_leg"
    CHIN = "chin"
    LEFT_FDS = "left_fds"  # flexor digitorum superficialis (SINBAR RSWA montage): read when present, optional
    RIGHT_FDS = "right_fds"


# Roles read when a file has them and never missed when it has not (no caveat, no ambiguity error).
OPTIONAL_ROLES = frozenset({ChannelRole.LEFT_FDS, ChannelRole.RIGHT_FDS})


# Normalised alias -> (role, is_bipolar_derivation). Normalisation: see normalise_label.
_ALIASES: dict[str, tuple[ChannelRole, bool]] = {
    # left anterior tibialis
    **{
        a: (ChannelRole.LEFT_LEG, False)
        for a in ("lat", "legl", "lleg", "leftleg", "tibl", "ltib", "leg1", "lleg1", "lefttibialis")
    },
    "sx1sx2": (ChannelRole.LEFT_LEG, True),  # CAP Sleep Database
    "lat1lat2": (ChannelRole.LEFT_LEG, True),
    # right anterior tibialis
    **{
        a: (ChannelRole.RIGHT_LEG, False)
        for a in ("rat", "legr", "rleg", "rightleg", "tibr", "rtib", "leg2", "rleg1", "righttibialis")
    },
    "dx1dx2": (ChannelRole.RIGHT_LEG, True),  # CAP Sleep Database
    "rat1rat2": (ChannelRole.RIGHT_LEG, True),
    # chin / submental
    **{a: (ChannelRole.CHIN, False) for a in ("chin", "chinemg", "submental", "emgsubmental")},
    "emg1emg2": (ChannelRole.CHIN, True),
    "chin1chin2": (ChannelRole.CHIN, True),
    # flexor digitorum superficialis (forearm), by alias only: no leg or chin pattern reaches them
    **{a: (ChannelRole.LEFT_FDS, False) for a in ("fdsl", "lfds", "leftfds", "fdsleft", "arml", "larm", "leftarm")},
    **{a: (ChannelRole.RIGHT_FDS, False) for a in ("fdsr", "rfds", "rightfds", "fdsright", "armr", "rarm", "rightarm")},
}

# Nox A1 names the chin electrodes '1', '2' and their derivation '1-2': only trusted when all three are present.
_NOX_CHIN_SET = frozenset({"1", "2", "1-2"})

_PREFIX = re.compile(r"^(emg|eeg|ecg)[\s_.:-]+")
_SUFFIX = re.compile(r"[\s_.:-]+emg$")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_label(label: str) -> str:
    """Lower-case, drop a modality prefix or suffix ('EMG '), keep letters and digits: 'EMG Tib-L' -> 'tibl'."""
    text = label.strip().casefold()
    text = _SUFFIX.sub("", _PREFIX.sub("", text))
    return _NON_ALNUM.sub("", text)


def parse_channel_overrides(items: Sequence[str] | Mapping[str, str] | None) -> dict[ChannelRole, str]:
    """The one parser of ``--channel ROLE=LABEL`` (``cds analyze`` and ``cds triage``, and the library's
    ``channel_overrides``): repeated ``ROLE=LABEL`` strings or a role -> label mapping.

    Roles are matched case-insensitively (``right-leg`` = ``right_leg``); the label keeps everything after the
    first ``=``. Refused as usage errors (exit 2), because each would silently change what is scored: no ``=``,
    an empty role or label, an unknown role, a role given twice (even with the same label), and one label given
    for two roles (one signal scored as both legs makes every movement bilateral).
    """
    if not items:
        return {}
    pairs = list(items.items()) if isinstance(items, Mapping) else [_split_item(str(item)) for item in items]
    allowed = ", ".join(r.value for r in ChannelRole)
    overrides: dict[ChannelRole, str] = {}
    for role_text, label in pairs:
        role_key = str(role_text).strip().lower().replace("-", "_")
        label = str(label).strip()
        try:
            role = ChannelRole(role_key)
        except ValueError:
            raise UsageError(
                f"unknown channel role {str(role_text).strip()!r} in {role_text}={label} (allowed roles: {allowed})",
                option="--channel",
            ) from None
        if not label:
            raise UsageError(f"empty label for {role.value} (expected ROLE=LABEL)", option="--channel")
        if role in overrides:
            raise UsageError(
                f"channel role {role.value} given twice ({overrides[role]!r} and {label!r}); give each role once",
                option="--channel",
            )
        same = next((r for r, lab in overrides.items() if lab.casefold() == label.casefold()), None)
        if same is not None:
            raise UsageError(
                f"label {label!r} given for both {same.value} and {role.value}: one signal cannot be two channels",
                option="--channel",
            )
        overrides[role] = label
    return overrides


def _split_item(item: str) -> tuple[str, str]:
    role_text, sep, label = item.partition("=")
    if not sep or not role_text.strip() or not label.strip():
        allowed = ", ".join(r.value for r in ChannelRole)
        raise UsageError(
            f"bad channel override {item!r}: expected ROLE=LABEL (allowed roles: {allowed}; "
            "example: --channel left_leg='EMG L')",
            option="--channel",
        )
    return role_text, label


def _match_override(label: str, labels: Sequence[str]) -> str | None:
    if label in labels:
        return label
    wanted = label.strip().casefold()
    hits = [lab for lab in labels if lab.strip().casefold() == wanted]
    return hits[0] if len(hits) == 1 else None


# Pattern fallback for labels outside the alias table ('Tibialis L', 'PLM R', 'LLEG1-LLEG2', 'CHIN1'): a leg
# word and exactly one side marker, possibly fused ('lleg', 'tibr', 'lat'), or a chin word.
_LEG_WORDS = frozenset({"leg", "tib", "tibia", "tibial", "tibialis", "ta", "at", "plm", "lm", "anttib"})
_SIDES = {
    **dict.fromkeys(("l", "left", "lt", "lft", "sx", "sin", "links"), ChannelRole.LEFT_LEG),
    **dict.fromkeys(("r", "right", "rt", "rgt", "dx", "dex", "rechts"), ChannelRole.RIGHT_LEG),
}
_CHIN_WORDS = frozenset({"chin", "submental", "submentalis", "mentalis", "ment"})
_MODALITIES = frozenset({"emg", "eeg", "ecg", "exg"})
_BIPOLAR = re.compile(r"[0-9a-z]\s*-\s*[a-z]*[0-9]", re.IGNORECASE)


def _pattern_role(label: str) -> ChannelRole | None:
    """The role a label names by pattern (leg word + one side, or a chin word), or None."""
    tokens = [t for t in re.findall(r"[a-z]+", label.casefold()) if t not in _MODALITIES]
    if any(t in _CHIN_WORDS for t in tokens):
        return ChannelRole.CHIN
    leg, sides = False, set()
    for token in tokens:
        if token in _LEG_WORDS:
            leg = True
        elif token in _SIDES:
            sides.add(_SIDES[token])
        else:
            for word in _LEG_WORDS:
                rest = (
                    token[len(word) :]
                    if token.startswith(word)
                    else token[: -len(word)]
                    if token.endswith(word)
                    else None
                )
                if rest is not None and rest in _SIDES:
                    leg = True
                    sides.add(_SIDES[rest])
    return sides.pop() if leg and len(sides) == 1 else None


def _candidates(labels: Sequence[str]) -> dict[ChannelRole, list[tuple[str, bool]]]:
    stripped = {lab.strip() for lab in labels}
    nox_chin = stripped >= _NOX_CHIN_SET
    found: dict[ChannelRole, list[tuple[str, bool]]] = {role: [] for role in ChannelRole}
    by_pattern: dict[ChannelRole, list[tuple[str, bool]]] = {role: [] for role in ChannelRole}
    for label in labels:
        if nox_chin and label.strip() == "1-2":
            found[ChannelRole.CHIN].append((label, True))
            continue
        hit = _ALIASES.get(normalise_label(label))
        if hit is not None:
            found[hit[0]].append((label, hit[1]))
        elif (role := _pattern_role(label)) is not None:
            by_pattern[role].append((label, bool(_BIPOLAR.search(label))))
    # the alias table wins; the pattern only speaks for a role the table found nothing for
    return {role: found[role] or by_pattern[role] for role in ChannelRole}


def resolve_channel_roles(
    labels: Sequence[str],
    overrides: Mapping[ChannelRole, str] | None = None,
    *,
    path: str | Path | None = None,
) -> dict[ChannelRole, str | None]:
    """Map each role to the one label that carries it, or None when the file has none (an optional role, FDS, is
    left out when the file has none).

    Raises: InputError when two labels fit one role and neither is the only bipolar derivation;
    RecordingError when an override names a label that is not in the file.
    """
    given = None if overrides is None else {str(role): label for role, label in overrides.items()}
    parsed = parse_channel_overrides(given)
    roles: dict[ChannelRole, str | None] = {}
    for role, label in parsed.items():
        matched = _match_override(label, labels)
        if matched is None:
            raise RecordingError(
                f"--channel {role.value}={label!r}: no such signal label",
                path=path,
                location=role.value,
                hint=f"labels in the file: {', '.join(repr(lab) for lab in labels)}",
            )
        if matched in roles.values():
            other = next(r for r, lab in roles.items() if lab == matched)
            raise UsageError(
                f"{other.value} and {role.value} both name the signal {matched!r}: one signal cannot be two channels",
                option="--channel",
            )
        roles[role] = matched
    taken = set(roles.values())
    found = _candidates(labels)
    for role in ChannelRole:
        if role in roles:
            continue
        # a signal named for one role by --channel is never taken for another role by its label
        cands = [c for c in found[role] if c[0] not in taken]
        if len(cands) > 1:
            bipolar = [c for c in cands if c[1]]
            cands = bipolar if bipolar else cands
        if len(cands) > 1 and role in OPTIONAL_ROLES:
            log.info("%s: several candidates (%s), none used", role.value, ", ".join(c[0] for c in cands))
            cands = []
        if len(cands) > 1:
            names = ", ".join(repr(c[0]) for c in cands)
            raise InputError(
                f"ambiguous {role.value} channel: {names} all fit",
                path=path,
                location=role.value,
                hint=f"choose one with --channel {role.value}=LABEL",
            )
        roles[role] = cands[0][0] if cands else None
    roles = {r: lab for r, lab in roles.items() if lab is not None or r not in OPTIONAL_ROLES}  # optional: if found
    log.debug("channel roles resolved: %s", {r.value: lab for r, lab in roles.items()})
    return roles
