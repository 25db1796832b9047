"""dagster-dbt: the dbt project as Dagster assets, its tests as asset checks."""
