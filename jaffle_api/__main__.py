"""`python -m jaffle_api`: serve the stand-in in the foreground on API_HOST:API_PORT."""

from __future__ import annotations

import uvicorn

from jaffle_api.app import API_PREFIX, create_app
from jaffle_api.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    print(
        f"jaffle-shop stand-in: JAFFLE_API_URL=http://{settings.host}:{settings.port}{API_PREFIX}"
    )
    print(f"docs at http://{settings.host}:{settings.port}/docs", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
