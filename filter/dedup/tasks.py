"""The Ray tasks of the dedup stage: thin wrappers around plain functions tests call directly."""

from __future__ import annotations

from typing import Any

import ray

from flamboyance.filter.dedup.config import DedupConfig
from flamboyance.filter.dedup.inputs import InputUnit
from flamboyance.filter.dedup.records import write_records
from flamboyance.filter.dedup.rewrite import rewrite_unit


@ray.remote(num_cpus=1, max_retries=2)
def records_task(build: str, unit: InputUnit, output: str, config: DedupConfig, progress: Any) -> dict:
    return write_records(build, unit, output, config, lambda documents: progress.add.remote(documents))


@ray.remote(num_cpus=1, max_retries=2)
def rewrite_task(build: str, unit: InputUnit, output: str, config: DedupConfig, progress: Any) -> dict:
    return rewrite_unit(build, unit, output, config, lambda documents: progress.add.remote(documents))

