"""Page arithmetic and the `Link: rel="next"` header, the way the public API pages."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

DEFAULT_PAGE_SIZE = 100
# Larger asks are served this many rows a page: the Link header still leads through every row.
MAX_PAGE_SIZE = 5000


def window(page: int, page_size: int) -> tuple[int, int]:
    """(offset, limit) of a 1-based page."""
    limit = min(page_size, MAX_PAGE_SIZE)
    return (page - 1) * limit, limit


def next_link(path: str, query: Iterable[tuple[str, str]], page: int) -> str:
    """The Link header value for the page after `page`.

    Relative, and keeping every query parameter of the request in place with only `page`
    replaced (or appended), as the public API does, so a client following it keeps its
    filters and page size.
    """
    params = dict(query)  # a repeated parameter keeps its last value, as in the public API
    params["page"] = str(page + 1)
    return f'<{path}?{urlencode(params)}>; rel="next"'
