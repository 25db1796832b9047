"""The Markdown report: targets first, then one section per item, then where the time goes."""

from __future__ import annotations

from bench.report import (
    PACKAGES,
    fmt_n,
    fmt_s,
    fmt_x,
    median,
    ok_runs,
    rate,
    ratio,
    targets,
    tax,
)

PROFILE_LINES = 24
# The heading of each profile `measures.profile_commands` names, in the report's order.
PROFILE_TITLES = {
    "long": "The longest backfill",
    "day": "One daily partition",
    "import": "The code location's import",
}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _header(meta: dict) -> list[str]:
    mode = "quick smoke run (`--quick`)" if meta["quick"] else "full run"
    raw = meta.get("raw", "benchmarks.json")
    lines = [
        "# Benchmarks: the orchestration tax",
        "",
        f"Written by `make bench` (`python -m bench {meta['args']}`), a {mode} that took "
        f"{meta['duration_s'] / 60:.1f} min. Raw samples: [`{raw}`]({raw}).",
        "",
        f"Each figure is the median of {meta['repeat']} run{'s' if meta['repeat'] > 1 else ''} "
        "(range in brackets when several), except the "
        f"4× and 16× scale runs ({meta['scale_repeat']} each) and `make test` (once). Each ratio "
        "compares two medians measured in the same invocation, the two sides interleaved "
        "(A B, then B A), on the same data from the same stand-in API, every run in a fresh "
        "DuckDB file, DAGSTER_HOME, dlt pipelines dir and dbt target dir. Before the clock, dbt "
        "parses the project for the run's own profile and both sides get the result, as a "
        "scheduled day finds its warehouse's previous parse (on DuckDB items; on Postgres both "
        "sides parse in full). The machine is shared and noisy: read differences under ~10% as "
        "noise.",
        "",
        "Options: `make bench BENCH_ARGS='--quick'` (smoke run), `--only backfill,daily,load,"
        "dev,ui,ingestion,scale,postgres,test`, `--repeat N`, `--scale-repeat N`, `--skip-test`; "
        "`python -m bench --help` says more. Each run's log stays in the temp dir named in "
        f"`{raw}` (`meta.logs`).",
        "",
    ]
    if meta["quick"]:
        lines += [
            "> **Quick run**: shorter ranges and fewer runs than the targets are set for; its "
            "figures show the suite works, not where the platform stands. Run `make bench` for "
            "the real figures.",
            "",
        ]
    return lines


def _machine(machine: dict) -> list[str]:
    rows = [
        ["Date", machine["date"]],
        ["Commit", f"`{machine['commit']}` (plus any uncommitted changes)"],
        ["CPU", f"{machine['cpu']}, {machine['cores']} cores"],
        ["Memory", f"{machine['memory_gib']} GiB"],
        [
            "Python",
            f"{machine['python']} "
            f"(PYTHONDONTWRITEBYTECODE={machine['pythondontwritebytecode'] or 'unset'})",
        ],
        ["Load average at start", " / ".join(map(str, machine["load_average_at_start"]))],
    ]
    rows += [[name, machine["packages"][name]] for name in PACKAGES]
    return ["## Machine", "", *_table(["", ""], rows)]


def _targets(items: dict) -> list[str]:
    rows = [list(row) for row in targets(items)]
    return ["## Targets", "", *_table(["Measure", "Figure", "Target", ""], rows)]


def _tax_row(label: str, entry: dict) -> list[str]:
    orders = {s.get("orders") for s in ok_runs(entry["dagster"] + entry["bare"])}
    return [
        label,
        fmt_s(entry["dagster"]),
        fmt_s(entry["bare"]),
        fmt_x(tax(entry)),
        ", ".join(fmt_n(n) for n in sorted(o for o in orders if o is not None)) or "n/a",
    ]


_TAX_HEADER = ["Days", "Dagster CLI", "dlt + dbt CLIs", "Tax", "Orders in marts.orders"]


def _backfill(entries: dict) -> list[str]:
    rows = [_tax_row(f"{e['first']} … {e['last']} ({label})", e) for label, e in entries.items()]
    return [
        "## 1. Backfill tax",
        "",
        "`dagster asset materialize -m orchestration.definitions --select '*' --partition-range "
        "START...END` against `python -m ingestion --start START --end END` followed by `dbt "
        "build` with `DBT_MIN_DATE=START DBT_MAX_DATE=END`, each timed from launch to exit. "
        "Orders show both sides loaded the same data. Both sides start dbt from the same "
        "partial-parse file, made for the run's profile before the clock (the header says why): "
        "the window's models are re-parsed, the rest is not.",
        "",
        *_table(_TAX_HEADER, rows),
    ]


def _daily(entry: dict) -> list[str]:
    return [
        "## 2. Daily tax",
        "",
        "One partition (`--partition DAY`) against the bare tools for the same day.",
        "",
        *_table(_TAX_HEADER, [_tax_row(entry["first"], entry)]),
    ]


def _load(load: dict) -> list[str]:
    bare = median(load["bare imports"])
    commands = {
        "definitions import": '`python -c "import orchestration.definitions"`',
        "definitions validate": "`dagster definitions validate -m orchestration.definitions`",
        "bare imports": '`python -c "import dagster, dagster_dbt, dagster_dlt, dlt"`',
    }
    rows = [
        [command, fmt_s(load[name]), fmt_x(ratio(median(load[name]), bare))]
        for name, command in commands.items()
    ]
    return [
        "## 3. Load",
        "",
        "Each command in a fresh process, interpreter start-up included.",
        "",
        *_table(["Command", "Wall time", "÷ bare imports"], rows),
    ]


def _dev_start(dev: dict) -> list[str]:
    empty = median(dev["empty"])
    rows = [
        [
            name,
            fmt_s(dev[key]),
            fmt_x(ratio(median(dev[key]), empty)),
            fmt_n(median(dev[key], "peak_rss_mb")) + " MB",
        ]
        for key, name in (
            ("platform", "`orchestration.definitions`"),
            ("empty", "empty `dg.Definitions()`"),
        )
    ]
    return [
        "## 4. `dagster dev` start",
        "",
        "From launching `dagster dev -m MODULE --host 127.0.0.1 --port FREE` until the "
        "webserver's GraphQL `workspaceOrError` lists the location as `LOADED` with a "
        "`RepositoryLocation`; then the process group is stopped (SIGTERM, then SIGKILL after "
        "30 s) and no process of its session is left.",
        "",
        *_table(["Code location", "Start", "÷ empty", "Peak RSS (tree)"], rows),
    ]


def _ui_backfill(ui: dict) -> list[str]:
    rows = [
        [name, fmt_s(ui[key]), fmt_x(ratio(median(ui[key]), median(ui["make backfill"]))), note]
        for key, name, note in (
            ("ui", "UI backfill (`launchPartitionBackfill`)", _runs_note(ui["ui"])),
            ("make backfill", "`make backfill`", "1 run"),
        )
    ]
    return [
        "## 5. A backfill launched from the UI",
        "",
        f"Every asset for {ui['first']} … {ui['last']}: under `dagster dev`, the GraphQL "
        "mutation the UI's *Materialize all* → *Launch backfill* sends, timed until the "
        "backfill is completed (the daemon splits it into runs by partitioning and launches "
        "each once its parents are done); against `make backfill` for the same days, launch to "
        "exit. Fresh warehouse and instance for each run.",
        "",
        *_table(["Launched by", "Time", "÷ make backfill", "Runs"], rows),
    ]


def _runs_note(samples: list[dict]) -> str:
    notes = sorted({s.get("note", "") for s in samples if s.get("note")})
    return "; ".join(notes) or "n/a"


def _ingestion(ing: dict) -> list[str]:
    rows = []
    for key, name in (
        ("ingestion", "dlt into `raw` (`python -m ingestion`'s `main`, timed in-process)"),
        ("duckdb", "DuckDB `read_json` of the same pages from files"),
        ("api", "Stand-in API, `requests` following `Link`, page_size = ingestion's"),
    ):
        rows.append(
            [name, fmt_s(ing[key]), fmt_n(rate(ing[key], "rows")), fmt_n(rate(ing[key], "orders"))]
        )
    return [
        "## 6. Ingestion rate",
        "",
        f"Orders of {ing['first']} … {ing['last']} at the default volume: {ing['orders']:,} "
        f"orders with {ing['items']:,} items. Rows are orders + items rows.",
        "",
        *_table(["Path", "Time", "Rows/s", "Orders/s"], rows),
    ]


def _scale(scales: dict) -> list[str]:
    rows = []
    for factor, e in scales.items():
        orders = median(e["dagster"], "orders")
        dagster_s = median(e["dagster"])
        per_order = ratio(dagster_s, orders)
        rows.append(
            [
                f"{factor}×",
                fmt_n(orders),
                fmt_s(e["dagster"]),
                fmt_s(e["bare"]),
                fmt_x(tax(e)),
                fmt_n(per_order * 1e6 if per_order else None, 1),
                fmt_n(median(e["dagster"], "peak_rss_mb")) + " MB",
                fmt_n(median(e["bare"], "peak_rss_mb")) + " MB",
            ]
        )
    first = next(iter(scales.values()))
    return [
        "## 7. Scale",
        "",
        f"{first['first']} … {first['last']} through the Dagster CLI at multiples of "
        "`JAFFLE_API_ORDERS_PER_DAY` (170), against the bare tools. Peak memory is the RSS "
        "summed over the command's whole process tree, sampled every 50 ms. A flat µs/order "
        "means time grows linearly with volume.",
        "",
        *_table(
            [
                "Volume",
                "Orders",
                "Dagster CLI",
                "dlt + dbt CLIs",
                "Tax",
                "µs/order (Dagster)",
                "Peak RSS Dagster",
                "Peak RSS bare",
            ],
            rows,
        ),
    ]


def _make_test(entry: dict) -> list[str]:
    run = entry["runs"][0]
    status = "passed" if run["returncode"] == 0 else f"failed (exit {run['returncode']})"
    return ["## 9. `make test`", "", f"{run['seconds']:.1f} s, {status}.", ""]


def _profile_lines(text: str, limit: int, condense: bool) -> list[str]:
    """The first `limit` entries of a flat pyinstrument listing. With `condense`, an entry
    within 2% of the one kept before it is a mere wrapper of it and is skipped."""
    kept: list[str] = []
    last = None
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        try:
            seconds = float(head)
        except ValueError:
            continue  # banner, blank and "Program:" lines
        if condense and last is not None and seconds >= last * 0.98:
            continue
        if line.split()[1] == "[self]":
            continue  # a remainder pyinstrument could not place in a function
        kept.append(line)
        last = seconds
        if len(kept) == limit:
            break
    return kept


def _profiles(profiles: dict) -> list[str]:
    lines = [
        "## Where the time goes",
        "",
        "A target about Dagster's own overhead was missed, so its paths were each run once under "
        "pyinstrument (5-ms samples; a fresh warehouse and instance each). dbt runs in a "
        "subprocess: its time shows as the wait in dagster-dbt's `_stream_stdout`. Each session "
        "is kept with the logs (`pyinstrument --load FILE` renders it again).",
        "",
    ]
    for name, title in PROFILE_TITLES.items():
        if name in profiles:
            lines += _profile(title, profiles[name])
    return lines


def _profile(title: str, profile: dict) -> list[str]:
    return [
        f"### {title}",
        "",
        f"`pyinstrument {profile['command']}`: {profile['seconds']:.1f} s under the profiler; "
        f"session `{profile['session']}`.",
        "",
        "Cumulative time per function, the top of the stack first (wrappers that add "
        "under 2% to the line above are left out):",
        "",
        "```",
        *_profile_lines(profile["cumulative"], PROFILE_LINES, condense=True),
        "```",
        "",
        "Own time per function (where the process actually spends it; pyinstrument's "
        "unplaced `[self]` remainder left out):",
        "",
        "```",
        *_profile_lines(profile["self"], PROFILE_LINES // 2, condense=False),
        "```",
        "",
    ]


def _postgres(entry: dict) -> list[str]:
    instance = entry["instance"]
    sqlite, postgres = median(instance["sqlite"]), median(instance["postgres"])
    rows = [
        [
            f"{instance['first']} … {instance['last']} ({instance['days']} days), DuckDB warehouse",
            fmt_s(instance["sqlite"]),
            fmt_s(instance["postgres"]),
            fmt_x(ratio(postgres, sqlite)),
        ]
    ]
    warehouse = entry["warehouse"]
    return [
        "## 8. The production path: Postgres",
        "",
        "The Dagster instance on Postgres (`deploy/dagster.yaml`, with `DAGSTER_EVENT_BATCH_SIZE` "
        "as `make serve` sets it) against SQLite (the shipped "
        "`dagster.yaml`), the same backfill through `dagster asset materialize`; the instance "
        "storage is created before the clock starts, as `make setup` does.",
        "",
        *_table(["Range", "SQLite instance", "Postgres instance", "Postgres ÷ SQLite"], rows),
        "",
        "The orchestration tax with `WAREHOUSE=postgres`: Dagster (SQLite instance) against "
        "`python -m ingestion` + `dbt build` into the same kind of fresh Postgres database.",
        "",
        *_table(_TAX_HEADER, [_tax_row(f"{warehouse['first']} … {warehouse['last']}", warehouse)]),
    ]


def render(result: dict) -> str:
    items = result["items"]
    lines = _header(result["meta"]) + _machine(result["machine"]) + _targets(items)
    sections = (
        ("backfill", _backfill),
        ("daily", _daily),
        ("load", _load),
        ("dev_start", _dev_start),
        ("ui_backfill", _ui_backfill),
        ("ingestion", _ingestion),
        ("scale", _scale),
        ("postgres", _postgres),
        ("make_test", _make_test),
    )
    for key, section in sections:
        if key in items:
            lines += section(items[key])
    for item, error in result.get("errors", {}).items():
        lines += [f"## `{item}` crashed", "", "```", *error.strip().splitlines()[-8:], "```", ""]
    if result.get("profiles"):
        lines += _profiles(result["profiles"])
    return "\n".join(lines).rstrip() + "\n"
