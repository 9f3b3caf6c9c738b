"""A two-node Ray cluster on 127.0.0.1 for fault-injection tests: a head and a second raylet.

Each node gets its own temporary folder and its own ports, and token authentication with
a token of its own, so it is independent of any other Ray on the machine. Only the
processes this cluster started are ever stopped: they are found by the temporary
folders and ports in their command lines, never by a name (no ``ray stop``).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NODE_PORTS = ("node-manager-port", "object-manager-port", "dashboard-agent-grpc-port", "dashboard-agent-listen-port",
              "metrics-export-port", "runtime-env-agent-port")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


class LocalCluster:
    """``with LocalCluster() as cluster:`` a head (1 CPU) and a worker node (1 CPU)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Unix socket paths are limited
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                    "RAY_USAGE_STATS_ENABLED": "0"}
        self.gcs_port, self.client_port = free_ports(2)
        self.address = f"127.0.0.1:{self.gcs_port}"
        self.markers: list[str] = [str(self.root), f":{self.gcs_port}", f"={self.client_port}"]
        self.worker_ports: dict[str, int] = {}
        self.workers_started = 0

    def _start(self, name: str, *args: str, attempts: int = 3) -> dict[str, int]:
        """``ray start`` one node; on a busy machine a port picked free can be taken before
        the node binds it, so a failed start is retried with fresh ports and a fresh folder."""
        for attempt in range(1, attempts + 1):
            ports = dict(zip(NODE_PORTS, free_ports(len(NODE_PORTS))))
            low = free_ports(1)[0]
            command = ["ray", "start", "--node-ip-address=127.0.0.1", f"--temp-dir={self.root / f'{name}-{attempt}'}",
                       "--num-cpus=1", "--disable-usage-stats", f"--min-worker-port={low}", f"--max-worker-port={low + 40}",
                       *args, *(f"--{flag}={port}" for flag, port in ports.items())]
            self.markers += [f"={port}" for port in ports.values()]
            started = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=180)
            if started.returncode == 0:
                return ports
            self._kill(self.pids(str(self.root / f"{name}-{attempt}")))  # what the failed start left running
        raise RuntimeError(f"ray start {name} failed {attempts} times; last output:\n{started.stdout}\n{started.stderr}")

    def __enter__(self) -> "LocalCluster":
        self._start("head", "--head", f"--port={self.gcs_port}", f"--ray-client-server-port={self.client_port}",
                    "--include-dashboard=false")
        self.start_worker()
        return self

    def start_worker(self) -> None:
        """Start a second node; each gets a folder of its own (a killed node's agents may linger in its old one)."""
        self.workers_started += 1
        self.worker_ports = self._start(f"worker{self.workers_started}", f"--address={self.address}")

    def pids(self, *needles: str) -> list[int]:
        """Processes whose command line holds any of ``needles`` (ours: folders and ports of this cluster)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if any(needle in command for needle in needles):
                    found.append(int(entry.name))
        return found

    def kill_worker_raylet(self) -> int:
        """kill -9 the second node's raylet; return its pid."""
        port = self.worker_ports["node-manager-port"]
        pids = [pid for pid in self.pids(f"--node_manager_port={port}") if "raylet" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    @staticmethod
    def _kill(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __exit__(self, *exc: object) -> None:
        for _ in range(3):
            pids = self.pids(*self.markers)
            self._kill(pids)
            if not pids:
                break
            time.sleep(1)
