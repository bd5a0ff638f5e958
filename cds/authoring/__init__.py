"""Tools for guideline authors and reviewers: ``rules check`` (static checks), the rule book, rule-set diffs,
condition coverage, scenario and case-library runners, the self-check and releasing the manifest. They use the
engine (``cds.rules``) and the decision (``cds.decision``); nothing in the engine imports them."""
