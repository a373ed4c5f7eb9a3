"""ONNX export and the onnx:PATH embedder, on a tiny random-weight open_clip model saved to a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.embedders import OnnxSpec, load_embedder, parse_spec
from detector.embedders.onnx import OnnxEmbedder, read_sidecar, sidecar_path
from detector.errors import ConfigError, EmbedderUnavailable

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


def onnx_export():
    """The export module, imported when a test uses it: it imports torch (2 s), and every xdist worker imports
    every test module."""
    from detector.embedders import onnx_export

    return onnx_export


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory) -> str:
    import open_clip  # here, not at the top: see onnx_export
    import torch

    folder = tmp_path_factory.mktemp("tiny-clip")
    config = folder / "tiny-onnx-test.json"
    config.write_text(json.dumps(TINY), encoding="utf-8")
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-onnx-test")
    torch.save(model.state_dict(), folder / "tiny.pt")
    return f"clip:{config}@{folder / 'tiny.pt'}"


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    paths = sorted(WORKS_DIR.glob("*.jpg"))[:4] + sorted(OTHERS_DIR.glob("*.jpg"))[:2]
    return [Image.open(p).convert("RGB") for p in paths]


@pytest.fixture(scope="module")
def exported(tiny_spec, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx_export().export_spec(tiny_spec, out)
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_export_writes_model_and_sidecar_with_the_tower_preprocessing(exported, tiny_spec):
    prep = read_sidecar(exported)
    assert exported.is_file() and sidecar_path(exported) == exported.with_name("tiny.onnx.json")
    assert prep.size == (64, 64) and prep.dim == 32 and prep.layout == "NCHW" and prep.dtype == "float32"
    assert prep.resize == "shortest" and prep.interpolation == "bicubic"
    assert prep.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert prep.quantization is None and prep.source.startswith("clip:tiny-onnx-test.json#")


def test_onnx_embedder_agrees_with_torch_embedder(exported, tiny_spec, photos):
    torch_vectors = load_embedder(tiny_spec).embed(photos)
    onnx = load_embedder(f"onnx:{exported}", batch_size=4)
    onnx_vectors = onnx.embed(photos)  # 6 images in batches of 4: a full and a partial batch
    assert isinstance(onnx, OnnxEmbedder) and onnx.dim == 32 and onnx.id.startswith("onnx:tiny.onnx#")
    assert onnx_vectors.shape == (6, 32) and onnx_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1, atol=1e-5)
    assert _cosines(torch_vectors, onnx_vectors).min() > 0.9999
    # Different photos must still give different vectors (a constant output would agree trivially).
    assert _cosines(onnx_vectors[:1], onnx_vectors[1:]).max() < 0.9999


def test_int8_export_runs_and_stays_close(tiny_spec, photos, tmp_path):
    import open_clip

    model = open_clip.create_model("tiny-onnx-test", pretrained=tiny_spec.split("@", 1)[1])
    out = tmp_path / "tiny-int8.onnx"
    prep = onnx_export().export_model(model.eval(), out, source="tiny", int8=True)
    assert prep.quantization == "int8-dynamic" and read_sidecar(out).quantization == "int8-dynamic"
    vectors = OnnxEmbedder(out).embed(photos)
    reference = load_embedder(tiny_spec).embed(photos)
    assert vectors.shape == (6, 32)
    assert _cosines(vectors, reference).min() > 0.9


def test_parse_spec_accepts_onnx_and_lists_it_for_unknown_kinds():
    assert parse_spec("onnx:/models/a.onnx") == OnnxSpec(Path("/models/a.onnx"))
    with pytest.raises(ConfigError, match=r"'onnx:/path/to/model.onnx'"):
        parse_spec("tflite:/models/a.tflite")
    with pytest.raises(ConfigError, match=r"needs a model file in onnx:PATH"):
        parse_spec("onnx:")


def test_missing_model_and_missing_sidecar_say_how_to_fix(tmp_path, exported):
    with pytest.raises(EmbedderUnavailable, match=r"does not exist; export one with `copyhound models export-onnx"):
        load_embedder(f"onnx:{tmp_path / 'absent.onnx'}")
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(exported.read_bytes())
    with pytest.raises(EmbedderUnavailable, match=r"has no preprocessing sidecar .*bare\.onnx\.json"):
        OnnxEmbedder(bare)


@pytest.mark.parametrize("field, value, message", [
    ("layout", "CHWN", r"layout is 'CHWN'; accepted: NCHW, NHWC"),
    ("dtype", "float16", r"dtype is 'float16'; accepted: float32, uint8"),
    ("resize", "longest", r"resize is 'longest'; accepted: shortest, squash"),
    ("mean", [0.5, 0.5], r"mean is \[0.5, 0.5\]; expected a list of 3 numbers"),
    ("std", [0.2, 0.0, 0.2], r"std is \[0.2, 0.0, 0.2\]; expected a list of 3 positive numbers"),
    ("dim", "512", r"dim is '512'; expected a positive integer"),
    ("format", "something-else", r"has format 'something-else'; expected 'copyhound-onnx-embedder'"),
    ("input", "image", r"names input 'image', but the model's inputs are pixels"),
])
def test_bad_sidecar_fields_are_named(tmp_path, exported, field, value, message):
    model = tmp_path / "m.onnx"
    model.write_bytes(exported.read_bytes())
    data = json.loads(sidecar_path(exported).read_text())
    data[field] = value
    sidecar_path(model).write_text(json.dumps(data))
    with pytest.raises(EmbedderUnavailable, match=message):
        OnnxEmbedder(model)


def test_export_refuses_a_spec_that_is_not_open_clip(tmp_path):
    with pytest.raises(ConfigError, match=r"export-onnx exports 'clip:MODEL/TAG'"):
        onnx_export().export_spec("none", tmp_path / "x.onnx")


def test_nhwc_uint8_squash_preprocessing_feeds_raw_pixels(exported):
    prep = read_sidecar(exported)
    raw = type(prep)(**{**prep.__dict__, "layout": "NHWC", "dtype": "uint8", "resize": "squash", "size": (8, 12)})
    image = Image.new("RGB", (30, 20), (10, 200, 30))
    pixels = raw.pixels([image, image])
    assert pixels.shape == (2, 8, 12, 3) and pixels.dtype == np.uint8
    assert tuple(pixels[0, 4, 6]) == (10, 200, 30)


def test_cli_exports_the_workspace_embedder_and_refuses_none(tiny_spec, tmp_path):
    from typer.testing import CliRunner

    from detector.cli import app

    runner = CliRunner()
    home = tmp_path / "ws"
    assert runner.invoke(app, ["init", "--home", str(home), "--embedder", tiny_spec]).exit_code == 0
    result = runner.invoke(app, ["models", "export-onnx", "--int8", "--home", str(home)])
    assert result.exit_code == 0, result.output
    model = home / "models" / "clip-image-int8.onnx"
    assert model.is_file() and read_sidecar(model).quantization == "int8-dynamic"
    assert f'spec = "onnx:{model}"' in " ".join(result.output.split())

    bare = tmp_path / "bare"
    assert runner.invoke(app, ["init", "--home", str(bare), "--embedder", "none"]).exit_code == 0
    refused = runner.invoke(app, ["models", "export-onnx", "--home", str(bare)])
    assert isinstance(refused.exception, ConfigError)
    assert "is not an open_clip model" in str(refused.exception)


def _conv_pool_model(path: Path, input_shape: list, resize: dict, seed: int = 0) -> np.ndarray:
    """A real ONNX model built by code: a 1x1 convolution (3 -> 8 channels), ReLU and global average
    pooling, so it takes any height and width; written with its sidecar. Returns the weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(seed).normal(size=(8, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["pixels", "w"], ["features"]),
         helper.make_node("Relu", ["features"], ["active"]),
         helper.make_node("GlobalAveragePool", ["active"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["embedding"])],
        "conv-pool",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [input_shape[0], 8])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    sidecar = {"format": "copyhound-onnx-embedder", "version": 1, "input": "pixels", "output": "embedding",
               "dim": 8, "layout": "NCHW", "dtype": "float32", "interpolation": "bilinear",
               "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], **resize}
    sidecar_path(path).write_text(json.dumps(sidecar))
    return weights


def _by_hand(image: Image.Image, size: tuple[int, int], weights: np.ndarray) -> np.ndarray:
    """The conv-pool model's unit embedding of `image` resized to `size` (width, height), in numpy."""
    pixels = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    pixels = (pixels - np.float32([0.5, 0.4, 0.3])) / np.float32([0.2, 0.25, 0.3])
    vector = np.maximum(pixels @ weights[:, :, 0, 0].T, 0).mean(axis=(0, 1))
    return vector / np.linalg.norm(vector)


def test_a_dynamic_size_model_sees_the_short_side_resized_to_n_keeping_the_aspect_ratio(tmp_path, photos):
    model = tmp_path / "sscd-like.onnx"
    weights = _conv_pool_model(model, ["batch", 3, "height", "width"], {"resize": "short_side", "short_side": 48})
    embedder = OnnxEmbedder(model)
    assert read_sidecar(model).size is None and embedder.fixed_batch is None
    wide, tall = photos[0].resize((300, 200)), photos[1].resize((150, 400))
    vectors = embedder.embed([wide, tall])
    assert np.allclose(vectors[0], _by_hand(wide, (72, 48), weights), atol=1e-5)
    assert np.allclose(vectors[1], _by_hand(tall, (48, 128), weights), atol=1e-5)
    # the aspect ratio matters: a squash to 48x48 is a different input and a different vector
    assert not np.allclose(vectors[0], _by_hand(wide, (48, 48), weights), atol=1e-3)


def test_the_windows_of_a_candidate_run_in_one_call_and_give_the_vectors_of_one_by_one(tmp_path, photos):
    from detector.fingerprint import query_windows

    model = tmp_path / "dynamic.onnx"
    _conv_pool_model(model, ["batch", 3, "height", "width"], {"resize": "short_side", "short_side": 40})
    embedder = OnnxEmbedder(model, batch_size=16)
    candidate = photos[2]
    windows = [candidate.crop(box) for box in query_windows(candidate)][1:]  # the 9 windows, one size
    images = windows + [photos[3]]
    calls = []
    run = embedder._session.run
    embedder._session.run = lambda outputs, feeds: calls.append(feeds["pixels"].shape) or run(outputs, feeds)
    together = embedder.embed(images)
    assert sorted(shape[0] for shape in calls) == [1, 9]  # the windows in one call, the other photo alone
    calls.clear()
    one_by_one = np.vstack([embedder.embed([image]) for image in images])
    assert len(calls) == len(images)
    assert np.allclose(together, one_by_one, atol=1e-6)
    assert (together[:9] @ together[:9].T)[~np.eye(9, dtype=bool)].min() < 0.9999  # the windows differ


def test_a_fixed_batch_model_gets_exactly_its_batch_and_a_fixed_size_its_size(tmp_path, photos):
    model = tmp_path / "fixed.onnx"
    _conv_pool_model(model, [4, 3, 32, 32], {"resize": "squash", "size": [32, 32]})
    embedder = OnnxEmbedder(model, batch_size=16)
    assert embedder.fixed_batch == 4
    together = embedder.embed(photos)  # 6 images: a batch of 4 and one of 2 padded to 4
    one_by_one = np.vstack([embedder.embed([image]) for image in photos])
    assert together.shape == (6, 8) and np.allclose(together, one_by_one, atol=1e-6)


@pytest.mark.parametrize("shape, resize, message", [
    ([1, 3, 224, 224], {"resize": "short_side", "short_side": 288},
     r"takes a fixed input size \(\[1, 3, 224, 224\]\) but its sidecar resizes to short side 288"),
    (["n", 3, 224, 224], {"resize": "squash", "size": [256, 256]},
     r"takes input height 224 but its sidecar's size is \[256, 256\]"),
    (["n", 224, 224, 3], {"resize": "squash", "size": [224, 224]},
     r"declares input \['n', 224, 224, 3\], which has 224 channels in layout NCHW; .* \(layout NHWC\?\)"),
    (["n", 3, "h", "w"], {"resize": "short_side"}, r"short_side is None; resize 'short_side' needs the short side"),
])
def test_a_sidecar_that_does_not_fit_the_model_is_refused_in_one_line(tmp_path, shape, resize, message):
    model = tmp_path / "m.onnx"
    _conv_pool_model(model, shape, resize)
    with pytest.raises(EmbedderUnavailable, match=message) as refused:
        OnnxEmbedder(model)
    assert "\n" not in str(refused.value)
