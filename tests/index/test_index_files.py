"""Saved index files: the manifest's content, meta checks, and files that must be refused."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from index import BinaryIndex, IndexFileError, IndexInputError, VectorIndex
from index.persist import manifest_path


@pytest.fixture
def vector_index() -> VectorIndex:
    x = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    index = VectorIndex(8, "HNSW32,Flat")
    index.add(np.arange(100, 120), x / np.linalg.norm(x, axis=1, keepdims=True))
    return index


def test_manifest_records_meta_shape_count_and_checksum(vector_index, tmp_path):
    path = tmp_path / "clip.index"
    vector_index.save(path, {"embedder": "clip:ViT-B-32/laion2b_s34b_b79k"})
    manifest = json.loads(manifest_path(path).read_text())
    payload = path.read_bytes()
    assert manifest == {
        "format": "copyhound-index",
        "format_version": 1,
        "kind": "vector",
        "dim": 8,
        "factory": "HNSW32,Flat",
        "count": 20,
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "embedder": "clip:ViT-B-32/laion2b_s34b_b79k",
    }
    loaded, _ = VectorIndex.load(path, expect={"factory": "HNSW32,Flat", "dim": 8})
    assert loaded.factory == "HNSW32,Flat" and loaded.dim == 8


def test_save_creates_missing_directories(vector_index, tmp_path):
    path = tmp_path / "indexes" / "clip.index"
    vector_index.save(path, {})
    assert len(VectorIndex.load(path)[0]) == 20


def test_meta_may_not_reuse_recorded_keys(vector_index, tmp_path):
    with pytest.raises(IndexInputError, match=r"meta keys \['count', 'dim'\] are recorded by the index itself"):
        vector_index.save(tmp_path / "x.index", {"count": 3, "dim": 2})


def test_meta_must_be_json(vector_index, tmp_path):
    with pytest.raises(IndexInputError, match=r"meta must hold only JSON values"):
        vector_index.save(tmp_path / "x.index", {"when": {1, 2}})
    assert not list(tmp_path.iterdir())


def test_a_vector_index_file_is_not_loaded_as_a_binary_index(vector_index, tmp_path):
    path = tmp_path / "clip.index"
    vector_index.save(path, {})
    with pytest.raises(IndexFileError, match="holds a 'vector' index, not a 'binary' index") as caught:
        BinaryIndex.load(path)
    assert caught.value.reason == "kind"


def test_unreadable_manifest_is_refused(vector_index, tmp_path):
    path = tmp_path / "clip.index"
    vector_index.save(path, {})
    manifest_path(path).write_text("{not json")
    with pytest.raises(IndexFileError, match=r"manifest clip.index.manifest.json is unreadable") as caught:
        VectorIndex.load(path)
    assert caught.value.reason == "manifest"


def test_newer_format_version_is_refused(vector_index, tmp_path):
    path = tmp_path / "clip.index"
    vector_index.save(path, {})
    manifest = json.loads(manifest_path(path).read_text())
    manifest_path(path).write_text(json.dumps({**manifest, "format_version": 2}))
    with pytest.raises(IndexFileError, match="declares format 'copyhound-index' version 2; this copyhound "
                                             "reads 'copyhound-index' version 1") as caught:
        VectorIndex.load(path)
    assert caught.value.reason == "format"


def test_consistent_but_unparsable_payload_is_refused(vector_index, tmp_path):
    """A file whose manifest was rewritten to match garbage still fails as 'corrupt', not with a FAISS crash."""
    path = tmp_path / "clip.index"
    vector_index.save(path, {})
    garbage = b"not a faiss index at all"
    path.write_bytes(garbage)
    manifest = json.loads(manifest_path(path).read_text())
    manifest.update(bytes=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(IndexFileError, match="is not a readable FAISS index") as caught:
        VectorIndex.load(path)
    assert caught.value.reason == "corrupt"
    assert str(caught.value).endswith("Rebuild it from the registered works with `copyhound reindex`.")


def test_manifest_count_that_disagrees_with_the_index_is_refused(vector_index, tmp_path):
    path = tmp_path / "clip.index"
    vector_index.save(path, {})
    manifest = json.loads(manifest_path(path).read_text())
    manifest_path(path).write_text(json.dumps({**manifest, "count": 21}))
    with pytest.raises(IndexFileError) as caught:
        VectorIndex.load(path)
    assert caught.value.reason == "corrupt"
    assert "holds IndexIDMap2 of d=8 with 20 entries where the manifest records IndexIDMap2 of d=8 with 21" \
        in str(caught.value)
