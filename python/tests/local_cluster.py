"""A real two-node Ray cluster on one machine, loopback addresses only: a
head on 127.0.0.2 and a second node on 127.0.0.3, one CPU each by default,
token authentication on (Ray rewrites 127.0.0.1 to the machine's outward
address, so these two loopback addresses are used instead). Stopped with
`ray stop --force` when the block ends, even on failure (that stops every
Ray cluster this user runs on the machine: run no other here meanwhile).
Used by test_ray.py and bench/ray_scale.py."""
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
ENV = dict(os.environ, RAY_AUTH_MODE="token")


def _free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_cluster(cpus_per_node=1):
    """Yields the head's address (HOST:PORT)."""
    port = _free_port("127.0.0.2")
    address = f"127.0.0.2:{port}"
    common = ["--num-cpus", str(cpus_per_node), "--disable-usage-stats", "--object-store-memory", "200000000"]
    try:
        # The token every node and driver presents (kept in ~/.ray/auth_token; made once).
        subprocess.run([RAY, "get-auth-token", "--generate"], env=ENV, check=True, capture_output=True)
        subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.2", "--port", str(port),
                        "--include-dashboard", "false", *common], env=ENV, check=True, capture_output=True)
        subprocess.run([RAY, "start", "--address", address, "--node-ip-address", "127.0.0.3", *common],
                       env=ENV, check=True, capture_output=True)
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True)
