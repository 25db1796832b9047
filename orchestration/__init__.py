"""Dagster wiring: the one `Definitions`, the checks, schedules, sensors and alerts, and the
commands that run the platform (`make backfill`, `make dev`, `make serve`)."""
