"""Dagster wiring: partitions, policies, assets, checks, schedules and sensors."""
