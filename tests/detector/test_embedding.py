import numpy as np
import pytest
from PIL import Image
from support import make_tiny_clip

from detector import catalogue
from detector.embedders import load_embedder, parse_spec
from detector.embedders.clip import clip_weights_cached
from detector.errors import ConfigError, EmbedderMismatch, EmbedderUnavailable
from detector.register import WorkInfo, image_paths, register_files
from detector.reindex import reembed


def test_tiny_checkpoint_loads_through_the_spec_and_embeds_unit_vectors(tiny_clip, works_dir):
    embedder = load_embedder(tiny_clip, batch_size=2)
    images = [Image.open(p).convert("RGB") for p in sorted(works_dir.glob("*.jpg"))[:3]]
    vectors = embedder.embed(images)
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # Batching must not change results: one at a time gives the same vectors.
    single = np.concatenate([embedder.embed([im]) for im in images])
    assert np.allclose(vectors, single, atol=1e-5)
    assert embedder.id.startswith("clip:tiny-test.json#") and len(embedder.id.split("#")[1]) == 16


def test_different_weights_give_a_different_embedder_id(tiny_clip, tmp_path):
    other = make_tiny_clip(tmp_path, seed=1)
    assert load_embedder(tiny_clip).id != load_embedder(other).id


@pytest.mark.parametrize("spec, message", [
    ("resnet", "Unknown embedder 'resnet'; accepted: 'clip:MODEL/TAG'"),
    ("clip:ViT-B-32", "Embedder 'clip:ViT-B-32' needs both MODEL and TAG in clip:MODEL/TAG."),
    ("clip:@/x.pt", "Embedder 'clip:@/x.pt' needs both MODEL and PATH in clip:MODEL@PATH."),
])
def test_malformed_specs_are_refused(spec, message):
    with pytest.raises(ConfigError) as e:
        parse_spec(spec)
    assert message in str(e.value)


def test_missing_checkpoint_names_the_remedies(tmp_path):
    with pytest.raises(EmbedderUnavailable) as e:
        load_embedder(f"clip:ViT-B-32@{tmp_path / 'absent.pt'}")
    assert "absent.pt does not exist" in str(e.value)
    assert "embedder 'none'" in str(e.value) and "clip:MODEL@/path/to/checkpoint" in str(e.value)


def test_none_needs_no_weights():
    assert load_embedder("none") is None and clip_weights_cached("none")


def test_mixing_models_is_refused_until_reindex(workspace, works_dir, tiny_clip, tmp_path):
    ws, store = workspace
    settings = ws.settings()
    first = load_embedder(tiny_clip)
    files = image_paths([works_dir], recursive=False)[:3]
    register_files(ws, store, settings, first, files, WorkInfo("alice"))
    second = load_embedder(make_tiny_clip(tmp_path / "other", seed=7))
    with pytest.raises(EmbedderMismatch) as e:
        catalogue.load(ws, store, second, ws.settings().index)
    assert f"embedded with {first.id}" in str(e.value) and "copyhound reindex" in str(e.value)
    assert reembed(ws, store, settings, second) == 3
    rebuilt = catalogue.rebuild(ws, store, second, ws.settings().index)
    assert len(rebuilt.vectors) == 3 and store.embedder_ids() == [second.id]


def test_workspace_index_uses_the_configured_factory_and_search_params(workspace, works_dir, tiny_clip):
    from dataclasses import replace

    ws, store = workspace
    settings = ws.settings()
    tuned = replace(settings, index=replace(settings.index, exact_limit=1, factory="HNSW32,Flat",
                                            search_params="efSearch=77"))
    embedder = load_embedder(tiny_clip)
    register_files(ws, store, tuned, embedder, image_paths([works_dir], recursive=False)[:3], WorkInfo("alice"))
    loaded = catalogue.rebuild(ws, store, embedder, tuned.index)
    assert loaded.vectors.factory == "HNSW32,Flat" and loaded.vectors.search_params == "efSearch=77"
    assert len(loaded.vectors) == 3


def test_an_onnx_spec_is_cached_exactly_when_its_model_file_exists(tmp_path):
    model = tmp_path / "model.onnx"
    assert not clip_weights_cached(f"onnx:{model}")
    model.write_bytes(b"not read, only looked for")
    assert clip_weights_cached(f"onnx:{model}")
