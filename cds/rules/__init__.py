"""The rule engine: load rule files (schema and semantic checks) -> compile to experta -> run with a deterministic
agenda -> trace every firing with the facts it matched; the manifest stamp; why / why-not explanations from the
same compiled conditions. Authoring tools live in ``cds.authoring`` and import this package, never the reverse."""
