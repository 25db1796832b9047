"""Item: a 3-day backfill of every asset launched as the UI launches it, against `make backfill`.

The UI's "Materialize all" over a partition range sends the GraphQL mutation
`launchPartitionBackfill`; Dagster's backfill daemon then splits it into runs by partitioning
and launches each once its parents are done, on its 30-second tick. The clock runs from the
mutation until the backfill is completed (the `dagster dev` start-up is not counted: the UI is
already open). The other side is `make backfill` (`python -m commands.backfill`) for the
same days, from launch to exit. Each run gets a fresh warehouse and instance.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import dagster as dg

from bench.measures import Plan, interleave
from bench.processes import (
    DAGSTER,
    LOCAL_HTTP,
    PYTHON,
    Sample,
    TreeMemory,
    free_port,
    popen_session,
    run_measured,
    stop_session,
    wait_for_location,
    wait_until,
)
from bench.runs import DEFINITIONS, count_rows, fresh_run, parse_for_run
from core.partitions import daily_partitions

DAYS = ("2024-03-01", "2024-03-03")
_ENDED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
_ASSETS = "{ assetNodes { assetKey { path } isMaterializable } }"
_LAUNCH = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
_STATUS = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions runs(limit: 50) { runId status } }
  }
}
"""


def _graphql(port: int, query: str, **variables) -> dict:
    answer = LOCAL_HTTP.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["data"]


def run_ui_backfill(api_url: str, first: str, last: str, log: Path) -> Sample:
    """`dagster dev` on a fresh instance; the backfill launched over GraphQL and awaited."""
    with fresh_run(api_url) as run:
        parse_for_run(run, log)
        port = free_port()
        args = [DAGSTER, "dev", "-m", DEFINITIONS, "--host", "127.0.0.1", "--port", str(port)]
        process = popen_session(args, run.env, log)
        try:
            wait_for_location(port, process)
            nodes = _graphql(port, _ASSETS)["assetNodes"]
            selection = [{"path": n["assetKey"]["path"]} for n in nodes if n["isMaterializable"]]
            with TreeMemory(process.pid) as memory:
                started = time.perf_counter()
                launched = _graphql(
                    port,
                    _LAUNCH,
                    params={
                        "assetSelection": selection,
                        "partitionNames": daily_partitions.get_partition_keys_in_range(
                            dg.PartitionKeyRange(first, last)
                        ),
                        "title": "bench",
                    },
                )["launchPartitionBackfill"]
                if launched["__typename"] != "LaunchBackfillSuccess":
                    return Sample(0.0, 0.0, -1, f"launch failed: {launched}")
                backfill_id = launched["backfillId"]
                state: dict = {}

                def ended() -> bool:
                    state.update(
                        _graphql(port, _STATUS, id=backfill_id)["partitionBackfillOrError"]
                    )
                    return state.get("status") in _ENDED

                try:
                    wait_until(ended, process, timeout_s=1200)
                except (RuntimeError, TimeoutError) as error:
                    return Sample(
                        time.perf_counter() - started, memory.peak / 2**20, -1, str(error)
                    )
                seconds = time.perf_counter() - started
            runs = state.get("runs") or []
            ok = state["status"] in {"COMPLETED", "COMPLETED_SUCCESS"} and all(
                r["status"] == "SUCCESS" for r in runs
            )
            note = f"{len(runs)} runs" + ("" if ok else f", status {state['status']}: {runs}")
            sample = Sample(seconds, memory.peak / 2**20, 0 if ok else 1, note)
        finally:
            stop_session(process)
        sample.orders = count_rows(run.warehouse, "marts.orders")
        return sample


def run_make_backfill(api_url: str, first: str, last: str, log: Path) -> Sample:
    """What `make backfill START=first END=last` runs, in a fresh warehouse and instance."""
    with fresh_run(api_url) as run:
        parse_for_run(run, log)
        sample = run_measured([PYTHON, "-m", "commands.backfill", first, last], run.env, log)
        sample.orders = count_rows(run.warehouse, "marts.orders")
    return sample


def ui_backfill(plan: Plan) -> dict:
    """Both sides `plan.repeat` times, interleaved, against the 1× stand-in."""
    first, last = DAYS
    url = plan.api()
    samples = interleave(
        "ui-backfill",
        {
            "ui": functools.partial(run_ui_backfill, url, first, last),
            "make backfill": functools.partial(run_make_backfill, url, first, last),
        },
        plan.repeat,
        plan.logs,
    )
    return {"first": first, "last": last, **samples}
