"""What every embedder is, and the spec strings that name one in the workspace config.

Specs: `clip:MODEL/TAG` (open_clip's own download and cache), `clip:MODEL@PATH` (a local
checkpoint file; MODEL may be a model-config .json for custom architectures), `onnx:PATH` (an
ONNX image model with its preprocessing sidecar, see detector.embedders.onnx), or `none`.
Every embedder has an id naming the model, the tag and the weights' SHA-256, stored with the
index and the embeddings, so vectors from different models are never mixed.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from detector.errors import ConfigError

if TYPE_CHECKING:  # annotations only: parsing a spec (the CLI's startup) need not load numpy and Pillow
    import numpy as np
    from PIL import Image

SPEC_HELP = (
    "'clip:MODEL/TAG' (e.g. clip:ViT-B-32/laion2b_s34b_b79k), 'clip:MODEL@/path/to/checkpoint.pt', "
    "'onnx:/path/to/model.onnx' (with its .json sidecar, see `copyhound models export-onnx`), or 'none'"
)


class Embedder(ABC):
    """Contract: `embed` returns float32[n, dim], each row L2-normalised, same order as the input."""

    id: str
    dim: int

    @abstractmethod
    def embed(self, images: list[Image.Image]) -> np.ndarray: ...


@dataclass(frozen=True)
class ClipSpec:
    model: str
    tag: str | None = None
    checkpoint: Path | None = None


@dataclass(frozen=True)
class OnnxSpec:
    path: Path


def parse_spec(spec: str) -> ClipSpec | OnnxSpec | None:
    """None for 'none'; ConfigError naming the accepted forms for anything unparseable."""
    spec = spec.strip()
    if spec == "none":
        return None
    kind, _, rest = spec.partition(":")
    if kind == "onnx":
        if not rest:
            raise ConfigError(f"Embedder {spec!r} needs a model file in onnx:PATH, e.g. onnx:/models/clip.onnx.")
        return OnnxSpec(path=Path(rest).expanduser())
    if kind != "clip" or not rest:
        raise ConfigError(f"Unknown embedder {spec!r}; accepted: {SPEC_HELP}.")
    if "@" in rest:
        model, _, path = rest.partition("@")
        if not model or not path:
            raise ConfigError(f"Embedder {spec!r} needs both MODEL and PATH in clip:MODEL@PATH.")
        return ClipSpec(model=model, checkpoint=Path(path).expanduser())
    model, _, tag = rest.partition("/")
    if not model or not tag:
        raise ConfigError(f"Embedder {spec!r} needs both MODEL and TAG in clip:MODEL/TAG.")
    return ClipSpec(model=model, tag=tag)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
