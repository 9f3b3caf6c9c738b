"""Fault injection on a real two-node Ray cluster on one machine: a node dies mid-build, mid-dedup.

The second node's raylet is killed with SIGKILL while units run on it. Ray retries the
lost tasks on the head; whatever still failed is finished by running the same command
again. The output must be identical to a build (and a dedup) on one machine. Inputs are
tiny (the machine may have 2 shared cores), timeouts generous.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray_cluster import LocalCluster

from flamboyance.crawl.warc_writer import WarcWriter
from flamboyance.shards.manifest import read_manifest

pytestmark = pytest.mark.slow

PARAGRAPH = "<p>{} This paragraph of ordinary prose is long enough to count as article text, and says so twice. </p>"


def write_warcs(folder: Path, count: int = 8, pages: int = 12) -> list[str]:
    """Small WARCs of distinct pages with some repeated across files (so dedup has work)."""
    paths = []
    for number in range(count):
        path = folder / f"part{number}.warc.gz"
        with WarcWriter(str(path)) as writer:
            for page in range(pages):
                topic = page if page % 3 else 0  # every third page repeats across files
                body = "".join(PARAGRAPH.format(f"Topic {topic} part {n} of {page % 3}.") * 2 for n in range(6))
                html = f"<html><head><title>T{topic}</title></head><body><article><h1>Topic {topic}</h1>{body}</article></body></html>"
                writer.write_response(f"https://site{number % 3}.example/{number}/{page}.html", 200,
                                      [("Content-Type", "text/html; charset=utf-8")], html.encode())
        paths.append(str(path))
    return paths


def flamboyance(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flamboyance.cli", *args, "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def kill_when(cluster: LocalCluster, ready, process: subprocess.Popen, timeout: float = 300) -> bool:
    """Kill the second node's raylet as soon as ``ready()``; False if the command ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            cluster.kill_worker_raylet()
            return True
        time.sleep(0.05)
    return False


def run_through_fault(cluster: LocalCluster, args: list[str], ready) -> str:
    """Run ``flamboyance *args`` on the cluster, kill the second node once ``ready()``, and
    finish it; return which way it finished: Ray's retries alone, or a re-run after them."""
    process = flamboyance(*args, env=cluster.env)
    killed = kill_when(cluster, ready, process)
    code, output = finish(process)
    assert killed, output
    if code == 0:
        return "finished in one run (Ray retried the lost tasks)"
    cluster.start_worker()  # units lost beyond Ray's retries: the same command again finishes them
    code, output = finish(flamboyance(*args, env=cluster.env))
    assert code == 0, output
    return "failed, then the re-run finished it"


def same_output(a: Path, b: Path) -> None:
    for shard_set in ("interleaved", "pairs"):
        assert read_manifest(str(a / shard_set)) == read_manifest(str(b / shard_set)), shard_set
    assert sorted(p.name for p in (a / "interleaved").iterdir()) == sorted(p.name for p in (b / "interleaved").iterdir())


def test_a_node_killed_mid_build_and_mid_dedup_leaves_the_one_machine_output(tmp_path, record_property, capsys):
    warcs = write_warcs(tmp_path)
    build_args = ["build", "--warc", *warcs, "--set", "unit_bytes=1000000", "--set", "filters=null"]
    local_build, local_dedup = tmp_path / "local-build", tmp_path / "local-dedup"
    assert finish(flamboyance(*build_args, "--output", str(local_build)))[0] == 0
    assert finish(flamboyance("dedup", "--input", str(local_build), "--output", str(local_dedup)))[0] == 0

    with LocalCluster() as cluster:
        address = ["--ray-address", cluster.address]
        cluster_build, cluster_dedup = tmp_path / "cluster-build", tmp_path / "cluster-dedup"
        paths = {"build": run_through_fault(cluster, [*build_args, "--output", str(cluster_build), *address],
                                            lambda: len(list((cluster_build / "units").glob("*.json"))) >= 1)}
        same_output(cluster_build, local_build)

        cluster.start_worker()  # a new second node for the second fault
        dedup_args = ["dedup", "--input", str(cluster_build), "--output", str(cluster_dedup), *address]
        paths["dedup"] = run_through_fault(cluster, dedup_args, lambda: (cluster_dedup / "work" / "resolve").exists())
        same_output(cluster_dedup, local_dedup)
        assert (cluster_dedup / "dedup.json").read_text() == (local_dedup / "dedup.json").read_text()

    for stage, path in paths.items():  # which fault path each stage took, in the junit XML and the log
        record_property(f"{stage}_fault_path", path)
        with capsys.disabled():
            print(f"\n  node killed mid-{stage}: {path}")
