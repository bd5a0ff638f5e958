"""A four-rule rule base with its own knowledge/, scenarios and patient cases, small enough to check by hand.

Shared by tests/rulebase/test_diff.py, tests/rulebase/test_book.py and tests/cli/test_rules_cli.py (loaded by
path there). Rules: EVD-ADULT (age >= 18 -> evidence adult); FND-PLMD (PLMS index > threshold 15 /h, adult,
insomnia -> finding plmd); TRI-PSG (plmd -> polysomnography, routine); TRI-REASSURE (adult, no plmd ->
reassurance, routine). Cases: P1 PLMS 12 /h, P2 30 /h, P3 5 /h, all adults with insomnia.
"""

from __future__ import annotations

from pathlib import Path

POLICY = (Path(__file__).resolve().parents[2] / "knowledge" / "policy.yaml").read_text(encoding="utf-8")

KNOWLEDGE = {
    "policy.yaml": POLICY,
    "references.yaml": 'ICSD-3: {citation: "AASM. International Classification of Sleep Disorders, 3rd ed. 2014.", '
    "year: 2014, tag: C, kind: manual, doi: 10.1000/icsd3}\n",
    "thresholds.yaml": "plms_index_adult_per_h: {value: 15, unit: per_h, references: [ICSD-3]}\n",
    "drugs.yaml": "classes: {benzodiazepine: {description: benzodiazepines, references: [ICSD-3]}}\ngroups: {}\n"
    "drugs:\n  clonazepam: {name: Clonazepam, classes: [benzodiazepine]}\nmedications: {}\n",
    "vocab.yaml": """\
sexes: [female, male, other, unknown]
distress_levels: [none, mild, moderate, severe]
hla_b1502_values: [positive, negative]
eeg_values: [normal, epileptiform, not_done]
conditions: {}
actions: {polysomnography: Attended polysomnography, reassurance: Reassurance, clinical_review: Clinical review}
treatment_statuses: {option: may be offered, caution: with care, specialist_only: specialist,
  not_recommended: advised against, contraindicated: must not be given}
findings: {plmd: Periodic limb movement disorder}
evidence: {adult: Adult}
reasons: {}
caveats: {}
""",
    "fields.yaml": """\
age_years: {type: number, unit: years, min: 0, max: 130, derived: true, description: Age in years}
age_days: {type: number, unit: days, min: 0, max: 3653, description: Age in days}
sex: {type: enum, values: {vocab: sexes}, description: Sex}
symptoms.insomnia: {type: bool, description: Insomnia}
psg.plms_index: {type: number, unit: /h, min: 0, max: 500, sources: [reported, recording], description: PLMS index}
""",
}

_HEAD = """\
id: {id}
title: {title}
version: 1
status: active
authors: [cds test]
reviewed: 2026-11-01
layer: {layer}
references:
  - {{key: ICSD-3, section: PLMD, grade: C}}
rationale: test rule.
"""

RULES = {
    "1-evidence/EVD-ADULT.yaml": _HEAD.format(id="EVD-ADULT", title="Adult", layer="evidence")
    + """\
when:
  all:
    - {field: age_years, gte: 18}
then:
  - evidence: adult
because: "age {age_years}"
tests:
  - {name: adult, given: {age_years: 40}, expect: {fires: true}}
  - {name: child, given: {age_years: 9}, expect: {fires: false}}
""",
    "2-findings/FND-PLMD.yaml": _HEAD.format(id="FND-PLMD", title="PLMD", layer="findings")
    + """\
when:
  all:
    - {field: psg.plms_index, gt: {threshold: plms_index_adult_per_h}}
    - {evidence: adult}
    - {field: symptoms.insomnia, is: true}
then:
  - finding: plmd
because: "PLMS index {psg.plms_index} /h"
tests:
  - {name: high, given: {psg.plms_index: 30, evidence: [adult], symptoms.insomnia: true}, expect: {fires: true}}
  - {name: low, given: {psg.plms_index: 5, evidence: [adult], symptoms.insomnia: true}, expect: {fires: false}}
""",
    "3-triage/TRI-PSG.yaml": _HEAD.format(id="TRI-PSG", title="Polysomnography for PLMD", layer="triage")
    + """\
when:
  all:
    - {finding: plmd}
then:
  - {recommend: polysomnography, urgency: routine}
because: "PLMD"
tests:
  - {name: plmd, given: {findings: [plmd]}, expect: {fires: true}}
  - {name: none, given: {}, expect: {fires: false}}
""",
    "3-triage/TRI-REASSURE.yaml": _HEAD.format(id="TRI-REASSURE", title="Reassure", layer="triage")
    + """\
when:
  all:
    - {evidence: adult}
    - not: {finding: plmd}
then:
  - {recommend: reassurance, urgency: routine}
because: "no PLMD"
tests:
  - {name: adult without plmd, given: {evidence: [adult]}, expect: {fires: true}}
  - {name: adult with plmd, given: {evidence: [adult], findings: [plmd]}, expect: {fires: false}}
""",
    "3-triage/triage.scenario.yaml": """\
cases:
  - name: high PLMS
    note: adult with insomnia and PLMS 30 /h
    patient: {schema: cds.patient/v1, id: S1, age_years: 40, symptoms: {insomnia: true},
              polysomnography: {plms_index: 30}}
    want: {findings: [plmd], recommendations: [polysomnography]}
  - name: low PLMS
    note: adult with insomnia and PLMS 5 /h
    patient: {schema: cds.patient/v1, id: S2, age_years: 40, symptoms: {insomnia: true},
              polysomnography: {plms_index: 5}}
    want: {recommendations: [reassurance]}
    want_not: {findings: [plmd]}
""",
}

CASES = {
    f"{pid}.yaml": f"schema: cds.patient/v1\nid: {pid}\nage_years: 50\nsymptoms: {{insomnia: true}}\n"
    f"polysomnography: {{plms_index: {plms}}}\n"
    for pid, plms in (("P1", 12), ("P2", 30), ("P3", 5))
}


def write_minibase(root: Path, *, adult_threshold: float = 15) -> Path:
    """Write knowledge/, rules/ (with a manifest) and cases/ under ``root``; return ``root``."""
    from cds.authoring.release import build_manifest, write_manifest
    from cds.rules.manifest import MANIFEST_NAME

    files = {f"knowledge/{k}": v for k, v in KNOWLEDGE.items()} | {f"rules/{k}": v for k, v in RULES.items()}
    files |= {f"cases/{k}": v for k, v in CASES.items()}
    files["knowledge/thresholds.yaml"] = files["knowledge/thresholds.yaml"].replace("15", f"{adult_threshold:g}")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    write_manifest(build_manifest(root / "rules", root / "knowledge"), root / "rules" / MANIFEST_NAME)
    return root
