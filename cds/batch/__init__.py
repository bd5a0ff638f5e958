"""Cohorts on Dask: ``cds batch`` scores many nights (one result folder per night and one cohort table), and the
replay of a decision log or a cohort table under another rule set runs on the same backend.

Modules: ``cohort`` (which nights: a folder, a glob or a manifest CSV), ``night`` (one night on a worker: the
same files as ``cds analyze``/``cds triage``, the input key that makes a rerun skip it), ``table`` (the cohort
table as CSV and Parquet), ``backend`` (sequential, a local Dask cluster or an existing scheduler), ``run``
(the batch itself: resumable, errors as rows, progress), ``replay`` (rule-change impact at scale).
"""

from __future__ import annotations
