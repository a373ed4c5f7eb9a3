"""An Embedder that runs any ONNX image model with onnxruntime, preprocessing it as its sidecar says.

The model file `PATH` comes with a sidecar `PATH.json` (written by `copyhound models export-onnx`,
or by hand for another model such as a copy-detection descriptor):

    {"format": "copyhound-onnx-embedder", "version": 1,
     "input": "pixels", "output": "embedding", "dim": 512,
     "layout": "NCHW" | "NHWC", "dtype": "float32" | "uint8",
     "size": [height, width], "resize": "shortest" | "squash" | "short_side", "short_side": N,
     "interpolation": "bicubic" | "bilinear",
     "mean": [r, g, b], "std": [r, g, b], "source": "...", "quantization": null | "int8-dynamic"}

`resize: shortest` scales the short side to the target and centre-crops (open_clip's default);
`squash` scales to the exact size; both feed `size` ([height, width]). `short_side` scales the
short side to `short_side` pixels keeping the aspect ratio, with no crop (how copy-detection
descriptors such as SSCD are evaluated): every image has its own input size, so the model must
declare dynamic height and width. The model's declared input (rank, channels, fixed or dynamic
sizes, element type) is checked against the sidecar when it is loaded.

Images whose inputs have the same shape run in one call (the windows of one candidate all have
the same size, so they go together), in batches of `batch_size`, or of the model's own batch
size when it declares a fixed one. float32 inputs are pixels / 255, minus mean, over std; uint8
inputs are raw 0..255 pixels (mean and std unused). Outputs are L2-normalised here, so a model
need not normalise itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from detector.embedders.base import Embedder, file_sha256
from detector.errors import EmbedderUnavailable

SIDECAR_FORMAT = "copyhound-onnx-embedder"
SIDECAR_VERSION = 1
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "uint8")
RESIZE_MODES = ("shortest", "squash", "short_side")
ELEMENT_TYPES = {"float32": "tensor(float)", "uint8": "tensor(uint8)"}
INTERPOLATIONS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def sidecar_path(model_path: Path) -> Path:
    """Where the preprocessing sidecar of `model_path` lives: the same name plus `.json`."""
    return model_path.with_name(model_path.name + ".json")


@dataclass(frozen=True)
class Preprocessing:
    """How pixels must be prepared for one ONNX model (the sidecar, validated)."""

    input: str
    output: str
    dim: int
    layout: str
    dtype: str
    size: tuple[int, int] | None  # (height, width); None with resize 'short_side'
    resize: str
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str = ""
    quantization: str | None = None
    short_side: int | None = None  # with resize 'short_side'

    def as_dict(self) -> dict:
        return {
            "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, "input": self.input, "output": self.output,
            "dim": self.dim, "layout": self.layout, "dtype": self.dtype,
            **({"size": list(self.size)} if self.size else {}),
            "resize": self.resize, **({"short_side": self.short_side} if self.short_side else {}),
            "interpolation": self.interpolation, "mean": list(self.mean),
            "std": list(self.std), "source": self.source, "quantization": self.quantization,
        }

    def write(self, model_path: Path) -> Path:
        path = sidecar_path(model_path)
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def pixels(self, images: list[Image.Image]) -> np.ndarray:
        """The model input for `images` (all of one input size): [n, 3, H, W] or [n, H, W, 3] of the sidecar's dtype."""
        return self.tensor([self.resized(im) for im in images])

    def tensor(self, resized: list[np.ndarray]) -> np.ndarray:
        """The model input for uint8 [H, W, 3] arrays of one shape (from `resized`)."""
        batch = np.stack(resized)  # uint8 [n, H, W, 3]
        if self.dtype == "float32":
            batch = (batch.astype(np.float32) / 255.0 - np.float32(self.mean)) / np.float32(self.std)
            batch = batch.astype(np.float32)
        if self.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch)

    def resized(self, image: Image.Image) -> np.ndarray:
        """`image` as the model sees it, uint8 [H, W, 3]."""
        image = image.convert("RGB")
        resample = INTERPOLATIONS[self.interpolation]
        if self.resize == "short_side":
            return np.asarray(image.resize(short_side_size(image.size, self.short_side), resample))
        height, width = self.size
        if self.resize == "squash":
            return np.asarray(image.resize((width, height), resample))
        # Short side to the target's larger side, then a centre crop (as torchvision's Resize(int)
        # followed by CenterCrop, which open_clip uses, so ONNX and torch see the same pixels).
        new_w, new_h = short_side_size(image.size, max(height, width))
        image = image.resize((new_w, new_h), resample)
        left, top = round((new_w - width) / 2.0), round((new_h - height) / 2.0)
        return np.asarray(image.crop((left, top, left + width, top + height)))


def short_side_size(size: tuple[int, int], short: int) -> tuple[int, int]:
    """(width, height) with the short side `short` and the aspect ratio kept (torchvision's Resize(int))."""
    w, h = size
    return (short, int(short * h / w)) if w <= h else (int(short * w / h), short)


def read_sidecar(model_path: Path) -> Preprocessing:
    """The validated sidecar of `model_path`; EmbedderUnavailable naming the field and the fix."""
    path = sidecar_path(model_path)
    if not path.is_file():
        raise EmbedderUnavailable(
            f"ONNX model {model_path} has no preprocessing sidecar {path}; write one (fields: layout, dtype, "
            "size, resize, interpolation, mean, std, input, output, dim; see docs/benchmarks.md) or export the "
            "model with `copyhound models export-onnx`, which writes both."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EmbedderUnavailable(f"Sidecar {path} is not valid JSON ({e}); fix or re-export it.") from e
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise EmbedderUnavailable(
            f"Sidecar {path} has format {got!r}; expected {SIDECAR_FORMAT!r}. Add \"format\": "
            f"\"{SIDECAR_FORMAT}\" if it describes this model, or re-export the model."
        )
    if data.get("version") != SIDECAR_VERSION:
        raise EmbedderUnavailable(
            f"Sidecar {path} has version {data.get('version')!r}; this copyhound reads version "
            f"{SIDECAR_VERSION}. Re-export the model with `copyhound models export-onnx`."
        )

    def pick(key: str, allowed) -> str:
        value = data.get(key)
        if value not in allowed:
            raise EmbedderUnavailable(
                f"Sidecar {path}: {key} is {value!r}; accepted: {', '.join(allowed)}. Fix that field."
            )
        return value

    def numbers(key: str, count: int, positive: bool) -> tuple:
        value = data.get(key)
        ok = (isinstance(value, list) and len(value) == count
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
              and (not positive or all(v > 0 for v in value)))
        if not ok:
            kind = "positive numbers" if positive else "numbers"
            raise EmbedderUnavailable(
                f"Sidecar {path}: {key} is {value!r}; expected a list of {count} {kind}. Fix that field."
            )
        return tuple(value)

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise EmbedderUnavailable(
                f"Sidecar {path}: {key} is {value!r}; expected the model's {key} tensor name. Fix that field."
            )
        return value

    resize = pick("resize", RESIZE_MODES)
    size, short_side = None, None
    if resize == "short_side":
        short_side = data.get("short_side")
        if not isinstance(short_side, int) or isinstance(short_side, bool) or short_side < 1:
            raise EmbedderUnavailable(f"Sidecar {path}: short_side is {short_side!r}; resize 'short_side' needs "
                                      "the short side in pixels (a positive integer, e.g. 288). Fix that field.")
    else:
        size = tuple(int(v) for v in numbers("size", 2, positive=True))
    dim = data.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise EmbedderUnavailable(f"Sidecar {path}: dim is {dim!r}; expected a positive integer. Fix that field.")
    return Preprocessing(
        input=text("input"), output=text("output"), dim=dim, layout=pick("layout", LAYOUTS),
        dtype=pick("dtype", DTYPES), size=size, resize=resize, short_side=short_side,
        interpolation=pick("interpolation", tuple(INTERPOLATIONS)), mean=numbers("mean", 3, positive=False),
        std=numbers("std", 3, positive=True), source=str(data.get("source") or ""),
        quantization=data.get("quantization"),
    )


def check_declared_input(prep: Preprocessing, shape: list, element_type: str, model_path: Path) -> int | None:
    """Refuse a sidecar that does not fit the model's declared input (one line naming both and the fix);
    returns the model's fixed batch size, or None when its batch dimension is dynamic."""
    fix = f"fix {sidecar_path(model_path)}"
    if len(shape) != 4:
        raise EmbedderUnavailable(f"ONNX model {model_path} takes a rank-{len(shape)} input {prep.input!r} "
                                  f"({shape}); copyhound feeds images as [batch, 3, H, W] or [batch, H, W, 3].")
    if element_type != ELEMENT_TYPES[prep.dtype]:
        raise EmbedderUnavailable(f"ONNX model {model_path} takes {element_type} but its sidecar says dtype "
                                  f"{prep.dtype!r}; {fix} (float32 for tensor(float), uint8 for tensor(uint8)).")
    channels, height, width = (shape[1], shape[2], shape[3]) if prep.layout == "NCHW" else (shape[3], shape[1], shape[2])
    if isinstance(channels, int) and channels != 3:
        other = "NHWC" if prep.layout == "NCHW" else "NCHW"
        raise EmbedderUnavailable(f"ONNX model {model_path} declares input {shape}, which has {channels} channels "
                                  f"in layout {prep.layout}; {fix} (layout {other}?).")
    fixed = [v for v in (height, width) if isinstance(v, int)]
    if prep.resize == "short_side" and fixed:
        raise EmbedderUnavailable(f"ONNX model {model_path} takes a fixed input size ({shape}) but its sidecar resizes "
                                  f"to short side {prep.short_side} keeping the aspect ratio; {fix} (resize "
                                  "'squash' or 'shortest' with its size) or use a model with dynamic height and width.")
    for name, declared, wanted in (("height", height, prep.size and prep.size[0]), ("width", width, prep.size and prep.size[1])):
        if prep.resize != "short_side" and isinstance(declared, int) and declared != wanted:
            raise EmbedderUnavailable(f"ONNX model {model_path} takes input {name} {declared} but its sidecar's size "
                                      f"is {list(prep.size)}; {fix} (size [height, width]).")
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


class OnnxEmbedder(Embedder):
    """Runs `model_path` with onnxruntime on the CPU, batched; see the module docstring for the sidecar.

    `threads` > 0 caps onnxruntime's intra-op threads (0 keeps its default: one per core).
    The id names the file and its SHA-256, so vectors of two different models never mix.
    """

    def __init__(self, model_path: Path, batch_size: int = 16, threads: int = 0):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise EmbedderUnavailable(
                f"ONNX model {model_path} does not exist; export one with `copyhound models export-onnx "
                f"--out {model_path}`, or fix the path in embedder.spec (onnx:PATH)."
            )
        self.preprocessing = read_sidecar(model_path)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        try:
            self._session = onnxruntime.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise EmbedderUnavailable(
                f"onnxruntime could not load {model_path} ({type(e).__name__}: {e}); re-export the model."
            ) from e
        names = {i.name for i in self._session.get_inputs()}, {o.name for o in self._session.get_outputs()}
        for role, name, present in (("input", self.preprocessing.input, names[0]),
                                    ("output", self.preprocessing.output, names[1])):
            if name not in present:
                raise EmbedderUnavailable(
                    f"Sidecar of {model_path} names {role} {name!r}, but the model's {role}s are "
                    f"{', '.join(sorted(present))}; fix \"{role}\" in {sidecar_path(model_path)}."
                )
        declared = next(i for i in self._session.get_inputs() if i.name == self.preprocessing.input)
        self.fixed_batch = check_declared_input(self.preprocessing, declared.shape, declared.type, model_path)
        self.batch_size = self.fixed_batch or max(1, batch_size)
        self.dim = self.preprocessing.dim
        self.id = f"onnx:{model_path.name}#{file_sha256(model_path)[:16]}"

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        p = self.preprocessing
        resized = [p.resized(im) for im in images]
        same_shape: dict[tuple, list[int]] = {}
        for position, array in enumerate(resized):
            same_shape.setdefault(array.shape, []).append(position)
        for positions in same_shape.values():
            for start in range(0, len(positions), self.batch_size):
                chunk = positions[start:start + self.batch_size]
                arrays = [resized[i] for i in chunk]
                if self.fixed_batch:  # a model with a fixed batch size gets exactly that many
                    arrays += arrays[-1:] * (self.fixed_batch - len(arrays))
                (vectors,) = self._session.run([p.output], {p.input: p.tensor(arrays)})
                vectors = np.asarray(vectors, dtype=np.float32).reshape(len(arrays), -1)[:len(chunk)]
                if vectors.shape[1] != self.dim:
                    raise EmbedderUnavailable(
                        f"ONNX model output {p.output!r} has {vectors.shape[1]} values per image but its sidecar "
                        f"says dim {self.dim}; fix \"dim\" in the sidecar."
                    )
                out[chunk] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
