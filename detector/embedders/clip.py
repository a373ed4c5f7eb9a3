"""The open_clip image tower as an Embedder, with the weights from open_clip's cache or a local file."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from detector.embedders.base import ClipSpec, Embedder, OnnxSpec, file_sha256, parse_spec
from detector.errors import ConfigError, EmbedderUnavailable


class ClipEmbedder(Embedder):
    """open_clip image tower on the CPU, in eval mode, batched."""

    def __init__(self, spec: ClipSpec, batch_size: int = 16, threads: int = 0):
        import open_clip
        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        model_name = spec.model
        if model_name.endswith(".json"):
            config_path = Path(model_name).expanduser()
            if not config_path.is_file():
                raise EmbedderUnavailable(f"Model config {config_path} does not exist.")
            open_clip.add_model_config(config_path)
            model_name = config_path.stem
        if model_name not in open_clip.list_models():
            raise ConfigError(
                f"Unknown open_clip model {model_name!r}; see `python -c \"import open_clip; "
                "print(open_clip.list_models())\"` or give a model-config .json path."
            )
        checkpoint = spec.checkpoint or _cached_weights(open_clip, model_name, spec.tag)
        if not checkpoint.is_file():
            raise EmbedderUnavailable(f"Checkpoint {checkpoint} does not exist; {_REMEDIES}")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=str(checkpoint), device="cpu"
            )
        except Exception as e:  # open_clip raises many kinds for a bad file
            raise EmbedderUnavailable(f"Could not load {checkpoint} as {model_name}: {e}") from e
        model.eval()
        self._torch = torch
        self._model = model
        self._preprocess = preprocess
        self.batch_size = batch_size
        label = f"{spec.model}/{spec.tag}" if spec.tag else Path(spec.model).name
        self.id = f"clip:{label}#{file_sha256(checkpoint)[:16]}"
        self.dim = int(model.visual.output_dim)

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = images[start:start + self.batch_size]
                pixels = self._torch.stack([self._preprocess(im.convert("RGB")) for im in batch])
                vectors = self._model.encode_image(pixels).float().numpy()
                out[start:start + len(batch)] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


_REMEDIES = (
    "remedies: connect to the internet once so open_clip can download and cache the weights; "
    "or download the checkpoint elsewhere and use embedder 'clip:MODEL@/path/to/checkpoint'; "
    "or run on hashes and local features only with embedder 'none' "
    "(`copyhound config set embedder.spec none` in an existing workspace, then `copyhound reindex`)."
)


def _cached_weights(open_clip, model: str, tag: str) -> Path:
    """The weights file from open_clip's cache, downloading it if the network allows."""
    pretrained_cfg = open_clip.get_pretrained_cfg(model, tag)
    if not pretrained_cfg:
        tags = ", ".join(t for m, t in open_clip.list_pretrained() if m == model) or "none"
        raise ConfigError(f"open_clip has no pretrained tag {tag!r} for {model}; known tags: {tags}.")
    if not _cached_file(pretrained_cfg):
        host = _weights_host(pretrained_cfg)
        try:
            socket.getaddrinfo(host, 443)
        except OSError:
            # Offline: say so at once instead of sitting through the hub client's retries.
            raise EmbedderUnavailable(
                f"The weights for clip:{model}/{tag} are not cached and {host} cannot be reached "
                f"(no network?); {_REMEDIES}"
            ) from None
    try:
        path = open_clip.download_pretrained(pretrained_cfg)
    except Exception as e:  # network errors come from several libraries
        raise EmbedderUnavailable(
            f"The weights for clip:{model}/{tag} are not cached and could not be downloaded "
            f"({type(e).__name__}); {_REMEDIES}"
        ) from e
    if not path:
        raise EmbedderUnavailable(f"open_clip found no weights for clip:{model}/{tag}; {_REMEDIES}")
    return Path(path)


def _hf_repo(pretrained_cfg: dict) -> str:
    return (pretrained_cfg.get("hf_hub") or "").rstrip("/")


def _weights_host(pretrained_cfg: dict) -> str:
    return "huggingface.co" if _hf_repo(pretrained_cfg) else urlsplit(pretrained_cfg.get("url", "")).hostname or "?"


def _cached_file(pretrained_cfg: dict) -> bool:
    """Whether open_clip's hub cache already holds these weights (URL-only weights: unknown, so False)."""
    from huggingface_hub import try_to_load_from_cache

    repo = _hf_repo(pretrained_cfg)
    names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    return bool(repo) and any(isinstance(try_to_load_from_cache(repo, name), str) for name in names)


def clip_weights_cached(spec: str) -> bool:
    """Whether `spec` can be loaded without the network (the demo asks before trying)."""
    parsed = parse_spec(spec)
    if isinstance(parsed, OnnxSpec):
        return parsed.path.is_file()
    if parsed is None or parsed.checkpoint is not None:
        return parsed is None or parsed.checkpoint.is_file()
    import open_clip

    return _cached_file(open_clip.get_pretrained_cfg(parsed.model, parsed.tag) or {})
