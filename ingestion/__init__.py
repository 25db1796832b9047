"""dlt ingestion of the jaffle-shop REST API into the warehouse's `raw` schema, and its Dagster
assets (`assets.py`).

The source and pipeline run without Dagster: `python -m ingestion --start 2024-03-01 --end
2024-03-07` imports neither `assets.py` nor Dagster.
"""
