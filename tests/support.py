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
    """Run the installed `copyhound` entry point for real, in a child process."""
    command = [sys.executable, "-c", "from detector.cli import main; main()", *args]
    if home is not None:
        command += ["--home", str(home)]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(command, check=False, capture_output=True, text=True, env=full_env, timeout=timeout)


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (port 0) in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
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
