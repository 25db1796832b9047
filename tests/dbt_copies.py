"""A throwaway copy of the dbt project with ordinary dbt code added (a package installed by
`dbt deps`, models calling dbt's own and the package's macros), for the tests of setup and lint."""

import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = PROJECT_ROOT / "dbt_project"

# A package macro dispatched per adapter, as dbt_utils and dbt_date write theirs.
PACKAGE_MACROS = """\
{% macro cents_to_units(column) %}
    {{ return(adapter.dispatch('cents_to_units', 'shop_utils')(column)) }}
{% endmacro %}

{% macro default__cents_to_units(column) %}
    ({{ column }} / 100)::decimal(16, 2)
{% endmacro %}
"""

# A model in the dbt-labs style that calls dbt's cross-database macro and the package's macro.
PACKAGE_MODEL = """\
with

orders as (

    select * from {{ ref('stg_orders') }}

),

final as (

    select
        order_id,
        {{ dbt.date_trunc('day', 'ordered_at') }} as ordered_on,
        {{ shop_utils.cents_to_units('order_total') }} as order_total_units
    from orders

)

select * from final
"""


def copy_dbt_project(root: Path) -> Path:
    """The project's dbt folder in `root/dbt_project`, without build output or packages."""
    destination = root / "dbt_project"
    shutil.copytree(
        DBT_DIR, destination, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    return destination


def write_local_package(root: Path, name: str = "shop_utils") -> Path:
    """A dbt package in `root/packages/<name>` holding `PACKAGE_MACROS`."""
    package = root / "packages" / name
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text(
        f'name: {name}\nversion: "1.0.0"\nconfig-version: 2\nmacro-paths: ["macros"]\n'
    )
    (package / "macros" / f"{name}.sql").write_text(PACKAGE_MACROS)
    return package


def add_package_model(dbt_dir: Path, name: str = "orders_in_units") -> Path:
    """`PACKAGE_MODEL` as `models/extra/<name>.sql`, beside the example's own folders."""
    model = dbt_dir / "models" / "extra" / f"{name}.sql"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(PACKAGE_MODEL)
    return model
