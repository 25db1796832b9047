"""How the platform is run: the processes behind `make dev`, `make serve`, `make backfill`,
`make api` and `make defs`, their pre-flight, supervision and summaries.

`orchestration/` holds what runs (the one `Definitions`: assets, checks, sensors, schedules,
the executor); this package starts, watches and stops it, and changes for other reasons.
Nothing in `orchestration/` imports it.
"""
