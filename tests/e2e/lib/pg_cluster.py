"""A throwaway PostgreSQL cluster a test can stop and start (scripts/pg-throwaway.sh).

    cluster = PgCluster.start()           # initdb + pg_ctl on a random port, under /tmp
    cluster.url                           # postgres://patrol@127.0.0.1:PORT/postgres
    cluster.stop_server(); cluster.start_server()   # an outage, the same data and port
    cluster.sql("SELECT 1")               # psql -At, one value per line
    cluster.destroy()

The cluster is also stopped and removed once the test process ends (`--watch`), however it
ends. initdb refuses to run as root: as root, the cluster runs as `postgres` (as the script does).
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from .procs import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "pg-throwaway.sh"
_count = itertools.count()


def _as_pg(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PgCluster:
    def __init__(self, directory: Path, url: str) -> None:
        self.dir = directory
        self.url = url
        self.port = urlparse(url).port

    @classmethod
    def start(cls) -> "PgCluster":
        # The postgres user must reach it: /tmp, not pytest's (root-only) tmp_path.
        directory = Path("/tmp") / f"patrol-e2e-pg-{os.getpid()}-{next(_count)}"
        out = subprocess.run([str(SCRIPT), "start", str(directory), "--watch", str(os.getpid())],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"pg-throwaway.sh start failed:\n{out.stderr}")
        return cls(directory, out.stdout.strip())

    def database_url(self, name: str) -> str:
        """The URL of database `name` (created when missing)."""
        if not self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            self.sql(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def sql(self, query: str, url: str | None = None) -> list[str]:
        out = subprocess.run(["psql", url or self.url, "-At", "-v", "ON_ERROR_STOP=1", "-c", query],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr}")
        return [line for line in out.stdout.splitlines() if line]

    def stop_server(self) -> None:
        """`pg_ctl stop -m fast`: sessions are ended, the data stays."""
        subprocess.run(_as_pg(["pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"]),
                       check=True, capture_output=True, timeout=60)

    def start_server(self) -> None:
        """Start it again on the same port (the options pg-throwaway.sh starts it with)."""
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        subprocess.run(_as_pg(["pg_ctl", "-D", str(self.dir / "data"), "-o", opts, "-l", str(self.dir / "log"),
                               "-w", "-t", "60", "start"]), check=True, capture_output=True, timeout=90)

    def destroy(self) -> None:
        subprocess.run([str(SCRIPT), "stop", str(self.dir)], capture_output=True, timeout=60)
