"""Definitions a project keeps beside the platform's: the example's checks and chart, or a
fork's own pieces that know its models.

Each module named here has a `defs(platform_assets)` returning a `dg.Definitions` (given the
platform's asset definitions, to check that what it reads exists); the platform merges them
into its own. A module that does not exist is skipped, so a fork that deletes `example/`
changes no Python; one that adds its own pieces adds its module here.
"""

import importlib
import importlib.util
from collections.abc import Sequence

import dagster as dg

EXTRA_DEFINITIONS = ("example.definitions",)


def extra_definitions(platform_assets: Sequence) -> list[dg.Definitions]:
    found = []
    for name in EXTRA_DEFINITIONS:
        if importlib.util.find_spec(name.partition(".")[0]) is None:
            continue
        found.append(importlib.import_module(name).defs(platform_assets))
    return found
