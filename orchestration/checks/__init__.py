"""Asset checks written in Python; dbt's tests become checks through dagster-dbt."""
