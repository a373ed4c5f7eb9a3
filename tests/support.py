"""Helpers the tests import: a tiny real CLIP checkpoint, the real CLI in a child process, and a real
server (uvicorn on loopback) for an ASGI app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

#: A CLIP architecture small enough to build, save and run in a second; random weights.
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


def make_tiny_clip(folder: Path, name: str = "tiny-test", seed: int = 0) -> str:
    """Save a random-weight open_clip model and return the embedder spec that loads it."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"{name}.json"
    config_path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config_path)
    torch.manual_seed(seed)
    model, _, _ = open_clip.create_model_and_transforms(name)
    checkpoint = folder / f"{name}-{seed}.pt"
    torch.save(model.state_dict(), checkpoint)
    return f"clip:{config_path}@{checkpoint}"


def run_cli(*args: str, home: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run the installed `copyhound` entry point for real, in a child process: for tests about the process
    itself (its exit status as the OS sees it, a lock another process holds, signals, forked workers, a scan's
    crawler). Other tests use `invoke_cli`, which answers the same without starting Python each time."""
    command = [sys.executable, "-c", "from detector.cli import main; main()", *args]
    if home is not None:
        command += ["--home", str(home)]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(command, check=False, capture_output=True, text=True, env=full_env, timeout=timeout)


def invoke_cli(*args: str, home: Path | None = None, env: dict | None = None, input: str | None = None):
    """Run a `copyhound` command in this process, through `main()` as the entry point does (its exit codes and
    one-line errors), with stdin, stdout, stderr and the environment swapped for the call (typer's CliRunner)
    and the output as wide as COLUMNS says (200 unless given). Answers like `run_cli`, a CompletedProcess,
    without the half second of CPU a fresh interpreter spends importing the CLI."""
    from typer.testing import CliRunner

    from detector.cli import common, main

    argv = ["copyhound", *args] + (["--home", str(home)] if home is not None else [])
    env = {"COLUMNS": "200", **(env or {})}
    widths = common.console.width, common.err.width
    saved_argv = sys.argv
    with CliRunner().isolation(input=input, env=env) as (stdout, stderr, _):
        # The consoles took their width from COLUMNS when the CLI was imported; a child process would read it now.
        common.console.width = common.err.width = int(env["COLUMNS"])
        sys.argv = argv
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            sys.argv = saved_argv
            common.console.width, common.err.width = widths
            sys.stdout.flush()
            sys.stderr.flush()
        return subprocess.CompletedProcess(argv, code, stdout.getvalue().decode(), stderr.getvalue().decode())


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (port 0) in a thread, as `copyhound serve` does (believing
    no proxy headers itself); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                           proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (the newest installed), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresServer:
    """A real PostgreSQL server in a temporary folder on a free loopback port (and a unix socket there).

    initdb and postgres refuse to run as root, so under root they run as `nobody`, owning the folder.
    `database()` makes a fresh, empty database and returns its URL.
    """

    def __init__(self, bin_dir: Path):
        import tempfile

        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="copyhound-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.created = 0
        self.process: subprocess.Popen | None = None

    def _as_owner(self, *args: str) -> list[str]:
        return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else list(args)

    def start(self) -> PostgresServer:
        import psycopg

        if os.geteuid() == 0:
            os.chown(self.folder, 65534, 65534)  # nobody
        subprocess.run(self._as_owner(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
                                      "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"),
                       check=True, capture_output=True)
        self.process = subprocess.Popen(
            self._as_owner(str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                           "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                           "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"),
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "server.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 60
        while True:
            try:
                self.admin().close()
                return self
            except psycopg.OperationalError:  # not accepting connections yet
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start: "
                                       + (self.folder / "server.log").read_text(errors="replace")[-2000:]) from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self):
        import psycopg

        return psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5)

    def database(self) -> str:
        self.created += 1
        name = f"test_{self.created}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        import shutil
        import signal

        if self.process is not None and self.process.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown; sent to the postmaster itself, not to runuser.
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGINT)
            self.process.wait(timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registered_home(folder: Path, template: Path, sources: tuple = ()) -> Path:
    """A copy at `folder` of `template` (the session's workspace with every demo work registered for alice, the
    `registered_template` fixture), set to crawl without delays and with `sources` configured: what a discovery
    test starts from. Copied, not registered again: fingerprinting the works costs two seconds of CPU a test."""
    import shutil
    from dataclasses import replace

    from detector import config

    shutil.copytree(template, folder)
    crawl = replace(config.CrawlSettings(), download_delay=0.0, autothrottle=False)
    settings = config.Settings(crawl=crawl, sources=tuple(sources)).with_embedder("none")
    (folder / "config.toml").write_text(config.render_toml(settings), encoding="utf-8")
    return folder
