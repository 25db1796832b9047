"""The check sensor's cursor: what has been handled, what is still to send, and the groups.

Its own module so that reading events (`check_events.py`) and the sensor (`check_failure.py`)
both use it without importing each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from orchestration.alerts import grouping


@dataclass
class Cursor:
    checks: dict[str, int] = field(default_factory=dict)
    """Check key → execution id up to which every result has been handled."""
    freshness_after: int = 0
    """Storage id of the last freshness-state change read."""
    freshness_pending: tuple[int, ...] = ()
    """Storage ids of freshness-state changes read but not yet sent (Slack failed): re-read by
    id next tick, so the changes read with them and sent are not sent again."""
    groups: dict[str, grouping.Thread] = field(default_factory=dict)
    stale: frozenset[str] = frozenset()
    """Freshness checks whose failure was alerted and that have not passed since: one alert per
    stretch of lateness, however often the check is evaluated meanwhile."""
    in_service: frozenset[str] = frozenset()
    """Freshness checks whose asset is in service (never_built.py): once in, always in."""
    not_built: dict[str, str] = field(default_factory=dict)
    """Asset → due partition of the assets held back as never built, until the one message that
    names them is sent."""
    not_built_sent: bool = False
    """Whether that message was sent: at most once, ever."""

    def dumps(self) -> str:
        return json.dumps(
            {
                "checks": dict(sorted(self.checks.items())),
                "freshness_after": self.freshness_after,
                "freshness_pending": sorted(self.freshness_pending),
                "groups": grouping.as_dict(self.groups),
                "stale": sorted(self.stale),
                "in_service": sorted(self.in_service),
                "not_built": dict(sorted(self.not_built.items())),
                "not_built_sent": self.not_built_sent,
            },
            separators=(",", ":"),
        )

    @staticmethod
    def loads(raw: str | None) -> Cursor | None:
        try:
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict):
                return None
            return Cursor(
                checks={key: int(value) for key, value in data.get("checks", {}).items()},
                freshness_after=int(data.get("freshness_after", 0)),
                freshness_pending=tuple(int(i) for i in data.get("freshness_pending", ())),
                groups=grouping.loads(data.get("groups")),
                stale=frozenset(str(name) for name in data.get("stale", ())),
                in_service=frozenset(str(name) for name in data.get("in_service", ())),
                not_built={str(k): str(v) for k, v in data.get("not_built", {}).items()},
                not_built_sent=bool(data.get("not_built_sent", False)),
            )
        except (ValueError, TypeError, AttributeError):
            return None
