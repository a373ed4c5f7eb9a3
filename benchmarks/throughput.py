"""Throughput and cost per stage, fast path against naive path, on the benchmark's query images.

- decode: the product's `decode_image` (JPEG draft mode: libjpeg decodes at 1/2..1/8 scale when
  the picture is larger than the working size) against a naive full decode then resize, on the
  set's queries and on 12-megapixel JPEGs made from them (where draft mode matters);
- hashes, local features, search, verification: `Detector.analyse` on the workspace the quality
  run registered (its own per-stage clocks);
- embedding: the real ViT-B-32 architecture with random weights (no weights can be downloaded
  here; speed does not depend on weight values) run by torch eager (`clip:ViT-B-32@file`) and by
  onnxruntime from `copyhound models export-onnx` output (fp32 and int8), on whole images and on
  the 10 query windows the product embeds per candidate; agreement = cosine between the torch
  and ONNX embeddings of the same images (on random weights).
"""

from __future__ import annotations

import io
import resource
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from detector.config import IntakeSettings
from detector.intake import decode_image


class Clock:
    """Wall and CPU seconds (this process, all threads) over a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _row(stage: str, path: str, n: int, clock: Clock, note: str = "") -> dict:
    return {"stage": stage, "path": path, "images": n, "per_s": n / clock.wall if clock.wall else float("inf"),
            "ms_per_image": 1000 * clock.wall / n, "cpu_ms_per_image": 1000 * clock.cpu / n, "note": note}


def _naive_decode(data: bytes, side: int) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.thumbnail((side, side), Image.LANCZOS)
    return image


def decode_rows(files: list[Path], big: int) -> list[dict]:
    settings = IntakeSettings()
    blobs = [f.read_bytes() for f in files]
    big_blobs = []
    for data in blobs[:big]:
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((4000, 3000), Image.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        big_blobs.append(buffer.getvalue())
    rows = []
    for label, batch in (("set's queries (<= 1280 px)", blobs), ("12 MP JPEGs (4000x3000)", big_blobs)):
        with Clock() as c:
            for i, data in enumerate(batch):
                decode_image(data, f"q{i}", settings)
        rows.append(_row("decode", "copyhound (draft mode)", len(batch), c, label))
        with Clock() as c:
            for data in batch:
                _naive_decode(data, settings.work_side)
        rows.append(_row("decode", "naive (full decode + resize)", len(batch), c, label))
    return rows


def detector_rows(home: Path, files: list[Path]) -> list[dict]:
    """Per-stage cost of `Detector.analyse` (embedder as configured in the workspace: none)."""
    from detector.detect import Detector
    from detector.workspace import open_workspace
    from detector.workspace.store import open_store

    ws = open_workspace(home)
    settings = ws.settings()
    detector = Detector(ws, open_store(ws), settings, None)
    decoded = [decode_image(f.read_bytes(), f.name, settings.intake) for f in files]
    seconds: Counter = Counter()
    with Clock() as total:
        for i, d in enumerate(decoded):
            detector.analyse(f"{i:064x}", d, seconds)
    rows = []
    for stage in ("hash", "features", "search", "verify"):
        share = Clock()
        share.wall = seconds[stage]
        share.cpu = total.cpu * seconds[stage] / max(1e-9, total.wall)
        rows.append(_row(stage, "copyhound", len(files), share, "image + mirror" if stage in ("hash", "features") else ""))
    rows.append(_row("analyse (all of the above)", "copyhound", len(files), total,
                     f"{len(detector.assets)} registered works"))
    return rows


def embedder_rows(workdir: Path, files: list[Path], windows_images: int) -> tuple[list[dict], dict]:
    """torch eager vs ONNX fp32/int8 on ViT-B-32 with random weights; rows and agreement stats."""
    import open_clip
    import torch

    from detector.embedders import load_embedder
    from detector.embedders.onnx_export import export_model
    from detector.fingerprint import query_windows

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32").eval()
    checkpoint = workdir / "vit-b-32-random.pt"
    torch.save(model.state_dict(), checkpoint)
    info: dict = {}
    paths = {}
    for label, int8 in (("fp32", False), ("int8", True)):
        out = workdir / f"vit-b-32-random-{label}.onnx"
        with Clock() as c:
            export_model(model, out, source="ViT-B-32 (random weights)", int8=int8)
        info[f"export_{label}_s"] = c.wall
        info[f"size_{label}_mb"] = out.stat().st_size / 1e6
        paths[label] = out
    del model
    embedders = {
        "torch eager": load_embedder(f"clip:ViT-B-32@{checkpoint}"),
        "onnx fp32": load_embedder(f"onnx:{paths['fp32']}"),
        "onnx int8": load_embedder(f"onnx:{paths['int8']}"),
    }
    images = [Image.open(f).convert("RGB") for f in files]
    windows = [im.crop(box) for im in images[:windows_images] for box in query_windows(im)]
    rows, vectors = [], {}
    for label, embedder in embedders.items():
        embedder.embed(images[:2])  # warm-up: first-call allocations and thread pools
        with Clock() as c:
            vectors[label] = embedder.embed(images)
        rows.append(_row("embedding", label, len(images), c, "whole images, batch 16"))
        with Clock() as c:
            embedder.embed(windows)
        rows.append(_row("embedding", label, windows_images, c, "per candidate: whole + 9 windows"))
    for label in ("onnx fp32", "onnx int8"):
        cosines = (vectors["torch eager"] * vectors[label]).sum(axis=1)
        info[f"agreement_{label}"] = {"min": float(cosines.min()), "mean": float(cosines.mean()),
                                      "images": len(cosines)}
    # Random weights still map different photos apart; this shows the agreement is not trivial.
    spread = vectors["torch eager"] @ vectors["torch eager"].T
    info["torch_pairwise_cosine_mean"] = float(spread[~np.eye(len(spread), dtype=bool)].mean())
    checkpoint.unlink()
    return rows, info
