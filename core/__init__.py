"""The Dagster primitives both halves of the trifecta share: the daily partitions and their
windows, the warehouse pool, and the retry and freshness policies.

The bottom layer with `settings.py` and `warehouse.py`: `ingestion/` (dlt) and `transform/`
(dbt) build their assets on it, `orchestration/` assembles them; nothing here imports upward.
"""
