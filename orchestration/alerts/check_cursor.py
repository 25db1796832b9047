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

    def dumps(self) -> str:
        return json.dumps(
            {
                "checks": dict(sorted(self.checks.items())),
                "freshness_after": self.freshness_after,
                "freshness_pending": sorted(self.freshness_pending),
                "groups": grouping.as_dict(self.groups),
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
            )
        except (ValueError, TypeError, AttributeError):
            return None
