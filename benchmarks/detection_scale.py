"""Whole detections at catalogue scale: what one candidate costs, from decoding to the decision, when the
workspace's shortlist holds 1k, 10k or 100k works.

`benchmarks/run.py` calls `rows` from its shortlist part with each size's trained index (the one a
workspace builds, at the default nprobe). How it is put together:
- the true works of benchmarks/shortlist_scale.py are registered through `register_files` into a real
  workspace (once with `embedder = "none"`, once with an ONNX embedder), so their hashes, full features,
  pixels and embeddings are what detection would load;
- the workspace's detector then runs with its local-feature index swapped for the catalogue-size one
  (true works under their asset ids, distractor works under ids above every asset's) and, with the
  embedder, its embedding index swapped for one holding the true works' embeddings plus one random
  unit vector per distractor work, built with the factory the workspace would choose at that size;
- each candidate (the copies whose votes shortlist_scale times) is decoded and analysed as a scan does.

A distractor work has no stored features or pixels: when one reaches a shortlist its votes are paid, its
verification is not (it would cost what a true work's does, at most `shortlist_size` per candidate). The
ONNX model is ViT-B-32 with random weights (none can be downloaded here), exported to int8 as a CPU
deployment would run it: its cost is the real architecture's, its embeddings shortlist nothing useful,
so with it the local features still carry recall.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np

from detector.catalogue import tune
from detector.config import Settings
from detector.detect import Detector
from detector.embedders import load_embedder
from detector.intake import decode_image
from detector.register import WorkInfo, register_files
from detector.workspace import create_workspace
from detector.workspace.store import open_store
from index.local import LocalFeatureIndex, NearFirst
from index.vectors import VectorIndex, choose_factory

#: The ONNX runs take every STEP-th candidate: the model costs the same at every size.
ONNX_STEP = 4


class AssetIds:
    """A catalogue index seen under a workspace's asset ids: true work i answers as `asset_ids[i]`,
    distractor work j as j + `offset` (above every asset id)."""

    def __init__(self, index: LocalFeatureIndex, asset_ids: list[int]):
        self.index, self.asset_ids = index, np.asarray(asset_ids, dtype=np.int64)
        self.offset = int(self.asset_ids.max()) + 1
        self.binary = index.binary

    def __len__(self) -> int:
        return len(self.index)

    def _map(self, ids: np.ndarray) -> np.ndarray:
        """Index ids to asset ids; -1 (no neighbour) stays -1."""
        true = (ids >= 0) & (ids < len(self.asset_ids))
        mapped = np.where(ids >= 0, ids + self.offset, ids)
        mapped[true] = self.asset_ids[ids[true]]
        return mapped

    def votes(self, descriptors: np.ndarray, ratio: float = 0.8) -> dict[int, int]:
        return self.votes_per_view([descriptors], ratio)[0]

    def votes_per_view(self, views: list[np.ndarray], ratio: float = 0.8, nprobe: int | None = None,
                       mirror_of: list[int | None] | None = None) -> list[dict[int, int]]:
        return self.votes_near_first(views, ratio, nprobe, mirror_of)[0]

    def votes_near_first(self, views: list[np.ndarray], ratio: float = 0.8, nprobe: int | None = None,
                         mirror_of: list[int | None] | None = None, near: NearFirst | None = None
                         ) -> tuple[list[dict[int, int]], bool]:
        per_view, went_on = self.index.votes_near_first(views, ratio, nprobe, mirror_of, near)
        return [dict(zip(self._map(np.fromiter(votes, np.int64, len(votes))).tolist(), votes.values(), strict=True))
                for votes in per_view], went_on

    def neighbours(self, descriptors: np.ndarray, **kwargs) -> np.ndarray:
        return self._map(self.index.neighbours(descriptors, **kwargs))


class Workspaces:
    """The true works registered once per embedder, then a detector per catalogue size."""

    def __init__(self, candidates: Path, workdir: Path, onnx_model: Path | None, seed: int):
        self.candidates, self.workdir, self.seed = candidates, workdir, seed
        self.embedders = {"none": "none"} | ({"onnx int8 (ViT-B-32, random weights)": f"onnx:{onnx_model}"}
                                            if onnx_model else {})
        self.homes: dict[str, tuple] = {}

    def _home(self, label: str, data: dict):
        if label not in self.homes:
            home = self.workdir / f"detection-scale-{len(self.homes)}"
            ws, _ = create_workspace(home, Settings().with_embedder(self.embedders[label]))
            store = open_store(ws)
            settings = ws.settings()
            embedder = load_embedder(settings.embedder.spec)
            files = [Path(f) for f in data["work_file"].tolist()]
            outcomes = register_files(ws, store, settings, embedder, files, WorkInfo("bench"))
            by_file = {Path(o.path).name: o.asset_id for o in outcomes if o.status == "registered"}
            asset_ids = [by_file[f.name] for f in files]
            self.homes[label] = (ws, store, settings, embedder, asset_ids)
        return self.homes[label]

    def rows(self, size: int, index: LocalFeatureIndex, data: dict) -> list[dict]:
        """One row per embedder: the whole detection of the candidates against `index` at `size` works."""
        out = []
        for label in self.embedders:
            ws, store, settings, embedder, asset_ids = self._home(label, data)
            detector = Detector(ws, store, settings, embedder)
            detector.indexes.features = AssetIds(index, asset_ids)
            if embedder is not None:
                detector.indexes.vectors = _vectors(store, embedder, asset_ids, size, settings, self.seed)
            step = ONNX_STEP if embedder is not None else 1
            out.append({"works": size, "embedder": label,
                        **_detect(detector, self.candidates, data, asset_ids, step)})
            print(out[-1], flush=True)
        return out


def _vectors(store, embedder, asset_ids: list[int], size: int, settings: Settings, seed: int) -> VectorIndex:
    rows = dict(store.embeddings(embedder.id))
    vectors = np.stack([np.frombuffer(rows[a], dtype=np.float32) for a in asset_ids])
    rng = np.random.default_rng(seed + 3)
    others = rng.standard_normal((size - len(asset_ids), embedder.dim)).astype(np.float32)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    index = VectorIndex(embedder.dim, choose_factory(size, settings.index.exact_limit, settings.index.factory))
    offset = max(asset_ids) + 1
    index.add(np.concatenate([np.asarray(asset_ids), offset + np.arange(len(others))]).astype(np.int64),
              np.concatenate([vectors, others]))
    return tune(index, settings.index.factory, settings.index.search_params)


def _detect(detector: Detector, folder: Path, data: dict, asset_ids: list[int], step: int) -> dict:
    truth = [asset_ids[w] for w in data["query_work"].tolist()]
    files = sorted(folder.glob("*.png"))
    cpu, wall, matched = [], [], []
    stages: Counter = Counter()
    for path, work in list(zip(files, truth))[::step]:
        raw = path.read_bytes()
        c0, w0 = time.process_time(), time.perf_counter()
        decoded = decode_image(raw, path.name, detector.settings.intake)
        findings = detector.analyse(path.stem, decoded, stages)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        matched.append(any(f.asset_id == work and f.decision.decision == "match" for f in findings))
    n = len(cpu)
    return {"candidates": n, "cpu_ms": 1000 * float(np.mean(cpu)), "wall_ms": 1000 * float(np.mean(wall)),
            "p99_wall_ms": 1000 * float(np.percentile(wall, 99)), "match_recall": float(np.mean(matched)),
            "stage_ms": {k: 1000 * v / n for k, v in sorted(stages.items())}}
