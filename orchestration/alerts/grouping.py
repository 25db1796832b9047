"""Grouping repeats: a failure already alerted within the window updates that message instead
of posting a new one. Pure decisions over a small state that the sensors persist as JSON.

The window runs from a group's first alert, not its latest repeat: an asset that keeps failing
is re-announced (a new, notifying post) once per window rather than silently updated forever.

The ceiling: the failed runs of one backfill are one group (`backfill_group`), whatever their
partitions and failed steps, with a window of at least a day (`BACKFILL_WINDOW`). A backfill
whose 30 partitions fail in a day sends one message, updated with the count and the failed
partitions, not thirty; a backfill still failing the next day is announced once more.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Thread:
    """The Slack message that stands for one group of repeated failures."""

    channel: str
    ts: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class Post:
    """No live message for this group: post a new one."""

    key: str


@dataclass(frozen=True)
class Update:
    """A live message exists: update it; `thread` already carries the new count and time."""

    key: str
    thread: Thread


State = Mapping[str, Thread]

BACKFILL_WINDOW = dt.timedelta(days=1)
_BACKFILL_PREFIX = "run:backfill:"


def backfill_group(backfill_id: str) -> str:
    """The group of every failed run of one backfill."""
    return f"{_BACKFILL_PREFIX}{backfill_id}"


def window_for(key: str, window: dt.timedelta) -> dt.timedelta:
    """The grouping window of a group: a backfill's lasts at least a day."""
    return max(window, BACKFILL_WINDOW) if key.startswith(_BACKFILL_PREFIX) else window


def decide(
    state: State, key: str, now: dt.datetime, window: dt.timedelta, failures: int = 1
) -> Post | Update:
    """Post, or update the group's message if it was first posted less than `window` ago."""
    thread = state.get(key)
    if thread is None or now - thread.first_at >= window_for(key, window):
        return Post(key)
    return Update(key, replace(thread, count=thread.count + failures, last_at=now))


def posted(
    state: State,
    key: str,
    channel: str,
    ts: str,
    first_at: dt.datetime,
    now: dt.datetime,
    failures: int = 1,
) -> dict[str, Thread]:
    """The state after Slack accepted a new post for `key`."""
    return {**state, key: Thread(channel, ts, failures, first_at, now)}


def updated(state: State, decision: Update) -> dict[str, Thread]:
    """The state after Slack accepted an update."""
    return {**state, decision.key: decision.thread}


def prune(state: State, now: dt.datetime, window: dt.timedelta) -> dict[str, Thread]:
    """Drop groups whose window has passed: they can only lead to a new post anyway."""
    return {
        key: thread
        for key, thread in state.items()
        if now - thread.first_at < window_for(key, window)
    }


def as_dict(state: State) -> dict[str, dict]:
    """The JSON-ready form of the state, for embedding in a sensor cursor."""
    return {
        key: {
            "channel": thread.channel,
            "ts": thread.ts,
            "count": thread.count,
            "first_at": thread.first_at.isoformat(),
            "last_at": thread.last_at.isoformat(),
        }
        for key, thread in sorted(state.items())
    }


def dumps(state: State) -> str:
    return json.dumps(as_dict(state), separators=(",", ":"))


def loads(raw: str | Mapping | None) -> dict[str, Thread]:
    """Parse what `dumps` wrote (or its already-decoded dict); anything unreadable is empty."""
    if not raw:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return {
            key: Thread(
                channel=entry["channel"],
                ts=entry["ts"],
                count=int(entry["count"]),
                first_at=dt.datetime.fromisoformat(entry["first_at"]),
                last_at=dt.datetime.fromisoformat(entry["last_at"]),
            )
            for key, entry in data.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        # A corrupt state must not stop alerts: worst case, one repeat posts instead of updating.
        return {}
