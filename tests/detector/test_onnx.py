"""ONNX export and the onnx:PATH embedder, on a tiny random-weight open_clip model saved to a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from detector.demo_site import OTHERS_DIR, WORKS_DIR
from detector.embedders import OnnxSpec, load_embedder, parse_spec
from detector.embedders.onnx import OnnxEmbedder, read_sidecar, sidecar_path
from detector.embedders.onnx_export import export_model, export_spec
from detector.errors import ConfigError, EmbedderUnavailable

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory) -> str:
    import open_clip

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
    export_spec(tiny_spec, out)
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
    prep = export_model(model.eval(), out, source="tiny", int8=True)
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
        export_spec("none", tmp_path / "x.onnx")


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
