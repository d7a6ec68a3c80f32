"""A real, throwaway PostgreSQL cluster on loopback for the shared-store tests.

`initdb` into a temporary directory, `pg_ctl start` on 127.0.0.1 and a free port (Unix socket in
the data directory, never the system's), trust authentication for loopback only, `fsync` off (a
test cluster has nothing to lose). PostgreSQL refuses to run as root, so as root every command
runs as the `postgres` user (`runuser`), which owns the directory. Without the binaries (Debian:
`apt-get install postgresql`; `.ci/run` installs it) the tests that need one skip with that hint.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.servers import free_port

INSTALL_HINT = "PostgreSQL is not installed: apt-get install postgresql (or put initdb and pg_ctl on PATH)"


def postgres_bin() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class Cluster:
    """One running cluster: `url(db)` for a database on it; `stop()` / `start()` for outages."""

    bin: Path
    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://truthscan@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"), *args]
        subprocess.run(_as_owner(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -F -c max_connections=200"
        self.ctl("-o", options, "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: every connection is cut, as when the database server goes away."""
        self.ctl("-m", "fast", "-w", "stop")

    def new_database(self) -> str:
        """A fresh empty database's URL (tests never share tables)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)


@contextmanager
def postgres_cluster() -> Generator[Cluster]:
    """A new cluster for the `with` block; removed afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    data = Path(tempfile.mkdtemp(prefix="truthscan-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "truthscan", "--auth=trust", "-E", "UTF8"]
    subprocess.run(_as_owner([*initdb, "--no-sync"]), check=True, capture_output=True, timeout=120)
    cluster = Cluster(bin_dir, data, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
            cluster.ctl("-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)
