"""Fail early, and clearly, when the jaffle-shop API cannot be reached.

dlt would otherwise retry for a while and then bury the cause in a nested pipeline error;
one cheap request first turns "connection refused" into a message that says what to do. The
message names the root cause itself and drops the chain of requests' and urllib3's wrappers,
which would repeat ~80 lines of the same fault under each step attempt of a run's log.
"""

from __future__ import annotations

import requests

from settings import PUBLIC_API_URL


class ApiUnreachableError(RuntimeError):
    """The API did not answer; the message names the URL and the setting to change."""


def ensure_api_reachable(base_url: str, timeout_s: float = 10.0) -> None:
    url = base_url.rstrip("/") + "/stores?page_size=1"
    try:
        response = requests.get(url, timeout=timeout_s)
    except requests.RequestException as error:
        raise ApiUnreachableError(
            f"The jaffle-shop API at {base_url} cannot be reached ({_root_cause(error)}). "
            "Start the local stand-in with `make api`, or set JAFFLE_API_URL to a reachable "
            f"API (the public one is {PUBLIC_API_URL})."
        ) from None
    if response.status_code >= 500 or response.status_code == 404:
        raise ApiUnreachableError(
            f"The jaffle-shop API at {base_url} answered {response.status_code} to {url}. "
            "Check that JAFFLE_API_URL points at the API's /api/v1 base and that it is up."
        )


def _root_cause(error: BaseException) -> str:
    """The innermost exception's name, e.g. ConnectionRefusedError rather than requests'
    ConnectionError that wraps it twice."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return type(error).__name__
