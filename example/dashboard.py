"""The end of the lineage: daily revenue per store as a chart, a file and a picture in the UI."""

import base64
import io

import dagster as dg

import settings
from core.pools import WAREHOUSE_POOL
from warehouse import read_only

DAILY_REVENUE = dg.AssetKey(["marts", "daily_revenue"])
LOCATIONS = dg.AssetKey(["marts", "locations"])
# What the chart reads: the models and their columns.
CHART_MODELS = {
    DAILY_REVENUE: {"location_id", "order_date", "revenue"},
    LOCATIONS: {"location_id", "location_name"},
}
CHART_DAYS = 90


def _revenue_by_store() -> dict[str, list[tuple]]:
    with read_only() as warehouse:
        rows = warehouse.execute(
            """
            select locations.location_name, revenue.order_date, revenue.revenue
            from marts.daily_revenue as revenue
            inner join marts.locations as locations using (location_id)
            where revenue.order_date > (select max(order_date) from marts.daily_revenue) - ?
            order by locations.location_name, revenue.order_date
            """,
            [CHART_DAYS],
        ).fetchall()
    series: dict[str, list[tuple]] = {}
    for store, day, revenue in rows:
        series.setdefault(store, []).append((day, float(revenue)))
    return series


def render_chart(series: dict[str, list[tuple]]) -> bytes:
    """A PNG of one line per store (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    for store, points in sorted(series.items()):
        days, revenue = zip(*points, strict=True)
        axes.plot(days, revenue, label=store, linewidth=1.4)
    axes.set_title(f"Daily revenue per store, last {CHART_DAYS} days")
    axes.set_ylabel("revenue ($, before tax)")
    axes.grid(alpha=0.3)
    if series:
        axes.legend(loc="upper left", fontsize="small", ncol=3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


@dg.asset(
    key=["dashboards", "daily_revenue_chart"],
    deps=list(CHART_MODELS),
    group_name="dashboards",
    pool=WAREHOUSE_POOL,
    kinds={"matplotlib"},
    automation_condition=dg.AutomationCondition.eager(),
    # Unpartitioned, single-run so it can close a `--partition-range` run of everything.
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Daily revenue per store as a PNG under data/dashboards/, also shown here.",
)
def daily_revenue_chart() -> dg.MaterializeResult:
    series = _revenue_by_store()
    png = render_chart(series)
    path = settings.load().duckdb_path.parent / "dashboards" / "daily_revenue.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    image = base64.b64encode(png).decode()
    return dg.MaterializeResult(
        metadata={
            "chart": dg.MetadataValue.md(f"![daily revenue](data:image/png;base64,{image})"),
            "path": dg.MetadataValue.path(str(path)),
            "stores": len(series),
            "days": max((len(points) for points in series.values()), default=0),
        }
    )
