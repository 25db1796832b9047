"""dlt ingestion of the jaffle-shop REST API into the `raw` schema of DuckDB.

Runs without Dagster: `python -m ingestion --start 2024-03-01 --end 2024-03-07`.
"""
