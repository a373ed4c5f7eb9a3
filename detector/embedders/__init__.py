"""Image embedders: one module per runtime, chosen by the spec string in the workspace config.

`base` holds the Embedder contract and spec parsing; `clip` runs open_clip with torch; `onnx` runs
any ONNX image model with onnxruntime; `onnx_export` writes the configured CLIP tower to ONNX.
"""

from __future__ import annotations

from detector.embedders.base import SPEC_HELP, ClipSpec, Embedder, OnnxSpec, file_sha256, parse_spec

__all__ = ["SPEC_HELP", "ClipSpec", "Embedder", "OnnxSpec", "file_sha256", "load_embedder", "parse_spec"]


def load_embedder(spec: str, batch_size: int = 16, threads: int = 0) -> Embedder | None:
    """The embedder `spec` names (None for 'none'); `threads` > 0 caps the CPU threads of its runtime."""
    parsed = parse_spec(spec)
    if isinstance(parsed, OnnxSpec):
        from detector.embedders.onnx import OnnxEmbedder  # onnxruntime loads only when asked for

        return OnnxEmbedder(parsed.path, batch_size, threads)
    if parsed is None:
        return None
    from detector.embedders.clip import ClipEmbedder  # numpy and torch load only when an embedder is made

    return ClipEmbedder(parsed, batch_size, threads)
