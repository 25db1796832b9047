"""Send one grouped alert: post it, or update the group's live message, and return the new
grouping state only once Slack answered ok (on failure the state is unchanged and it raises)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from orchestration.alerts.grouping import State, Thread, Update, decide, posted, updated
from orchestration.alerts.messages import Repeat
from orchestration.alerts.slack import AlertNotSent, SlackMessage, SlackResource

# The grouped message is gone or frozen: start a new one rather than lose the alert.
_MESSAGE_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


def deliver(
    slack: SlackResource,
    state: State,
    key: str,
    *,
    first_at: dt.datetime,
    last_at: dt.datetime,
    failures: int,
    window: dt.timedelta,
    render: Callable[[Repeat | None], str],
) -> tuple[dict[str, Thread], str]:
    """Returns (new state, "posted" | "updated"); raises AlertNotSent if Slack never said ok."""
    decision = decide(state, key, last_at, window, failures)
    if isinstance(decision, Update):
        thread = decision.thread
        text = render(Repeat(thread.count, thread.first_at, thread.last_at))
        try:
            slack.update(SlackMessage(thread.channel, thread.ts), text)
            return updated(state, decision), "updated"
        except AlertNotSent as error:
            if error.code not in _MESSAGE_GONE:
                raise
    repeat = Repeat(failures, first_at, last_at) if failures > 1 else None
    message = slack.post(render(repeat))
    new_state = posted(state, key, message.channel, message.ts, first_at, last_at, failures)
    return new_state, "posted"
