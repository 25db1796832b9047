"""The jaffle-shop example's own Dagster pieces: they know its models and columns.

The platform loads `example.definitions` beside its own (orchestration/extensions.py). A fork
deletes this folder together with the example's dbt models and its API stand-in (`jaffle_api/`),
and the platform loads without it.
"""
