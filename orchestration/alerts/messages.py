"""The text of each alert: Slack mrkdwn, one fact per line, a link to the place to act.

Pure functions of plain values, so the exact wording is unit-tested and a fork can restyle it
without touching a sensor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

MAX_ASSETS = 10
MAX_ERROR_LINES = 5
MAX_LINE_CHARS = 300
MAX_METADATA_ENTRIES = 5
FENCE = "`" * 3


@dataclass(frozen=True)
class Repeat:
    """How often a grouped failure has happened: shown when it is more than once."""

    count: int
    since: dt.datetime
    latest: dt.datetime


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    assets: tuple[str, ...] = ()
    partition: str | None = None
    partition_range: tuple[str, str] | None = None
    failed_steps: tuple[str, ...] = ()
    error: str = ""
    not_retried: str | None = None
    """Why a run marked for a retry was not retried after all (orchestration/alerts/
    stranded_retries.py)."""
    backfill_id: str | None = None
    backfill_failed: tuple[str, ...] = ()
    """The partitions of the backfill's runs failed so far: its one message summarises them."""


@dataclass(frozen=True)
class CheckFailure:
    asset: str
    check_name: str
    severity: str
    freshness: bool = False
    partition: str | None = None
    check_description: str | None = None
    result: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FreshnessFailure:
    asset: str
    previous_state: str


def run_failure_message(
    failure: RunFailure, webserver_url: str, repeat: Repeat | None = None
) -> str:
    lines = [f":red_circle: *Run failed:* `{_job_label(failure.job_name)}`{_repeat(repeat)}"]
    if failure.assets:
        shown = ", ".join(f"`{asset}`" for asset in failure.assets[:MAX_ASSETS])
        more = len(failure.assets) - MAX_ASSETS
        lines.append(f"*Assets:* {shown}{f' +{more} more' if more > 0 else ''}")
    if failure.partition_range:
        start, end = failure.partition_range
        lines.append(f"*Partitions:* `{start}` to `{end}`")
    elif failure.partition:
        lines.append(f"*Partition:* `{failure.partition}`")
    if failure.failed_steps:
        label = "Failed step" if len(failure.failed_steps) == 1 else "Failed steps"
        lines.append(f"*{label}:* " + ", ".join(f"`{step}`" for step in failure.failed_steps))
    if failure.backfill_id:
        failed = failure.backfill_failed
        shown = ", ".join(f"`{p}`" for p in failed[:MAX_ASSETS])
        more = f" +{len(failed) - MAX_ASSETS} more" if len(failed) > MAX_ASSETS else ""
        link = f"<{webserver_url}/runs/b/{failure.backfill_id}|{failure.backfill_id}>"
        label = "partition" if len(failed) == 1 else "partitions"
        lines.append(f"*Backfill:* {link}: {len(failed)} failed {label}: {shown}{more}")
    if failure.not_retried:
        lines.append(f"*Not retried:* marked for a retry that never came; {failure.not_retried}")
    if failure.error:
        lines.append("*Error:*")
        # A fence inside the error would end the code block early.
        error = _escape(failure.error).replace(FENCE, "'" * 3)
        lines.append(f"{FENCE}{error}{FENCE}")
    lines.append(f"<{webserver_url}/runs/{failure.run_id}|Open run {failure.run_id[:8]}>")
    return "\n".join(lines)


def check_failure_message(
    failure: CheckFailure, webserver_url: str, repeat: Repeat | None = None
) -> str:
    if failure.freshness:
        headline = (
            f":hourglass: *Stale:* `{failure.asset}`: freshness check "
            f"`{failure.check_name}` failed ({failure.severity})"
        )
    else:
        headline = (
            f":red_circle: *Check failed:* `{failure.check_name}` on `{failure.asset}` "
            f"({failure.severity})"
        )
    lines = [headline + _repeat(repeat)]
    if failure.partition:
        lines.append(f"*Partition:* `{failure.partition}`")
    if failure.check_description:
        lines.append(f"*Check:* {_one_line(failure.check_description)}")
    if failure.result:
        lines.append(f"*Result:* {_one_line(failure.result)}")
    if failure.metadata:
        entries = failure.metadata[:MAX_METADATA_ENTRIES]
        lines.append(
            "*Metadata:* " + ", ".join(f"{key} = {_one_line(value)}" for key, value in entries)
        )
    lines.append(_asset_link(failure.asset, webserver_url))
    return "\n".join(lines)


def freshness_message(
    failure: FreshnessFailure, webserver_url: str, repeat: Repeat | None = None
) -> str:
    return "\n".join(
        [
            f":hourglass: *Stale:* `{failure.asset}` is failing its freshness policy "
            f"(was {failure.previous_state}){_repeat(repeat)}",
            _asset_link(failure.asset, webserver_url),
        ]
    )


def root_error(error: SerializableErrorInfo | None, max_lines: int = MAX_ERROR_LINES) -> str:
    """The innermost cause of an error chain, in at most `max_lines` lines.

    Wrappers (Dagster's step error, dlt's PipelineStepFailed) say *where* it failed; the
    innermost cause says *why*, which is what the reader of an alert needs first.
    """
    if error is None:
        return ""
    while error.cause is not None:
        error = error.cause
    text = (error.message or "").strip() or error.cls_name or "Unknown error"
    lines = [_clip(line) for line in text.splitlines() if line.strip()]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], f"… ({len(lines) - max_lines + 1} more lines)"]
    return "\n".join(lines)


def _job_label(job_name: str) -> str:
    # Materializations launched from the asset graph run in Dagster's hidden asset jobs.
    return "asset materialization" if job_name.startswith("__") else job_name


def _repeat(repeat: Repeat | None) -> str:
    if repeat is None or repeat.count < 2:
        return ""
    since, latest = repeat.since.astimezone(dt.UTC), repeat.latest.astimezone(dt.UTC)
    since_text = since.strftime("%H:%M UTC" if since.date() == latest.date() else "%b %d %H:%M UTC")
    return f" (failed {repeat.count} times since {since_text})"


def _asset_link(asset: str, webserver_url: str) -> str:
    path = "/".join(quote(part, safe="") for part in asset.split("/"))
    return f"<{webserver_url}/assets/{path}|Open {asset} in Dagster>"


def _one_line(text: str) -> str:
    return _clip(_escape(" ".join(text.split())))


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters: a `<` in an error must not become a broken link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
