"""Export an open_clip image tower to ONNX (optionally int8-quantised) with its preprocessing sidecar.

The exported file runs with `onnx:PATH` (detector.embedders.onnx) and gives the same vectors as
the torch model up to float rounding (fp32) or quantisation error (int8; measure it with
`make bench` before relying on it: the embedder id changes, so works must be re-indexed anyway).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

from detector.embedders.base import ClipSpec, parse_spec
from detector.embedders.clip import ClipEmbedder
from detector.embedders.onnx import Preprocessing
from detector.errors import ConfigError

INPUT_NAME, OUTPUT_NAME = "pixels", "embedding"
OPSET = 17


def preprocessing_of(model, source: str, quantization: str | None) -> Preprocessing:
    """The sidecar for an open_clip model, from the preprocessing config open_clip keeps on its tower."""
    cfg = getattr(model.visual, "preprocess_cfg", None) or {}
    resize_mode = cfg.get("resize_mode", "shortest")
    if resize_mode not in ("shortest", "squash"):
        raise ConfigError(
            f"open_clip model {source} resizes with mode {resize_mode!r}; ONNX export supports 'shortest' "
            "and 'squash'. Use the torch embedder (clip:...) for this model."
        )
    size = cfg.get("size", model.visual.image_size)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    interpolation = cfg.get("interpolation", "bicubic")
    if interpolation not in ("bicubic", "bilinear"):
        raise ConfigError(
            f"open_clip model {source} resizes with {interpolation!r} interpolation; ONNX export supports "
            "'bicubic' and 'bilinear'. Use the torch embedder (clip:...) for this model."
        )
    return Preprocessing(
        input=INPUT_NAME, output=OUTPUT_NAME, dim=int(model.visual.output_dim), layout="NCHW", dtype="float32",
        size=(int(height), int(width)), resize=resize_mode, interpolation=interpolation,
        mean=tuple(float(v) for v in cfg["mean"]), std=tuple(float(v) for v in cfg["std"]),
        source=source, quantization=quantization,
    )


def export_model(model, out: Path, source: str, int8: bool = False) -> Preprocessing:
    """Write `model`'s image tower (an open_clip CLIP model) to `out` and its sidecar to `out`.json.

    The batch dimension is dynamic. With `int8`, weights are quantised to int8 (onnxruntime's
    dynamic quantisation: activations stay float and are quantised per batch at run time).
    Returns the sidecar written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prep = preprocessing_of(model, source, "int8-dynamic" if int8 else None)
    tower = _ImageTower(model).eval()
    example = torch.zeros(1, 3, *prep.size)
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "fp32.onnx" if int8 else out
        # Grad stays enabled: without it torch's MultiheadAttention takes its fused fast path
        # (aten::_native_multi_head_attention), which has no ONNX export.
        with warnings.catch_warnings(), torch.enable_grad():
            # The TorchScript exporter needs no extra packages (the dynamo one needs onnxscript) and
            # handles open_clip's towers; its deprecation notice is not the user's concern.
            warnings.simplefilter("ignore", DeprecationWarning)
            # Tracing freezes open_clip's attention shape checks, which hold for a fixed architecture.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                tower, (example,), str(fp32_path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=OPSET,
                dynamo=False,
            )
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32_path), str(out), weight_type=QuantType.QInt8)
    prep.write(out)
    return prep


def export_spec(spec: str, out: Path, int8: bool = False) -> Preprocessing:
    """Export the open_clip model an embedder spec (`clip:...`) names; other specs are refused."""
    parsed = parse_spec(spec)
    if not isinstance(parsed, ClipSpec):
        raise ConfigError(
            f"Embedder {spec!r} is not an open_clip model; export-onnx exports 'clip:MODEL/TAG' or "
            "'clip:MODEL@PATH' specs. Set embedder.spec to one (or pass --embedder)."
        )
    embedder = ClipEmbedder(parsed)
    # The loaded torch model is the embedder's own; loading it here through the same code keeps
    # config-json models, checkpoints and the open_clip cache handled in one place.
    return export_model(embedder._model, out, source=embedder.id, int8=int8)


class _ImageTower(torch.nn.Module):
    """Runs only `encode_image` of a CLIP model (the exporter traces `forward`)."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, pixels):
        return self.clip.encode_image(pixels)
