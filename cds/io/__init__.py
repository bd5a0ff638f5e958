"""Reading layer of the signal core: recordings, channel roles, hypnograms, scored events, export."""

from cds.io.channels import ChannelRole, parse_channel_overrides, resolve_channel_roles
from cds.io.edf import Annotation, Recording, Signal, read_annotations, read_recording, sha256_of
from cds.io.events import ScoredEvents, events_from_annotations, read_events
from cds.io.export import write_events_csv, write_events_edf
from cds.io.hypnogram import STAGES, Hypnogram, check_hypnogram, hypnogram_from_annotations, read_hypnogram

__all__ = [
    "STAGES",
    "Annotation",
    "ChannelRole",
    "Hypnogram",
    "Recording",
    "ScoredEvents",
    "Signal",
    "check_hypnogram",
    "events_from_annotations",
    "hypnogram_from_annotations",
    "parse_channel_overrides",
    "read_annotations",
    "read_events",
    "read_hypnogram",
    "read_recording",
    "resolve_channel_roles",
    "sha256_of",
    "write_events_csv",
    "write_events_edf",
]
