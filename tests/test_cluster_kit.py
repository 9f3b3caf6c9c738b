"""The cluster kit: the entrypoint's roles, the manifests' Ray version, and what a job forwards."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import ray
import yaml

from flamboyance.shards.executor import runtime_env

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def entrypoint(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(DOCKER / "entrypoint.sh"), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **env})


def test_the_entrypoint_runs_executables_and_refuses_a_worker_without_address():
    assert entrypoint("echo", "hello").stdout == "hello\n"
    missing = entrypoint("worker")
    assert missing.returncode == 2 and "needs the head's address" in missing.stderr


def test_the_manifests_name_the_pinned_ray():
    pinned = next(line for line in (DOCKER.parent / "pyproject.toml").read_text().splitlines() if '"ray[default]' in line)
    assert ">=2.60,<2.61" in pinned and ray.__version__.startswith("2.60.")
    kuberay = yaml.safe_load((DOCKER / "kuberay.yaml").read_text())
    assert kuberay["spec"]["rayVersion"].startswith("2.60.")
    cluster = yaml.safe_load((DOCKER / "cluster.yaml").read_text())
    assert "-e RAY_AUTH_MODE=token" in cluster["docker"]["run_options"]
    for group in [kuberay["spec"]["headGroupSpec"], *kuberay["spec"]["workerGroupSpecs"]]:
        env = {item["name"] for item in group["template"]["spec"]["containers"][0]["env"]}
        assert {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} <= env


def test_a_job_forwards_credentials_and_endpoints_but_not_the_rest():
    environ = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
               "HOME": "/root", "PATH": "/bin", "MY_TOKEN": "x", "OTHER": "y", "FLAMBOYANCE_FORWARD_ENV": "MY_TOKEN, "}
    assert runtime_env(environ) == {"env_vars": {
        "AWS_ACCESS_KEY_ID": "key", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "secret",
        "FLAMBOYANCE_FORWARD_ENV": "MY_TOKEN, ", "MY_TOKEN": "x"}}
