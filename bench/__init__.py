"""The benchmark suite behind `make bench`: what the orchestration costs over the bare tools.

`python -m bench --help` lists the options; the report is docs/benchmarks.md, the raw samples
docs/benchmarks.json.
"""
