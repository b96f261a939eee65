"""Reading weights safely: state_dict files, edgecnn checkpoints, offline caches.

Files are read with ``torch.load(weights_only=True)``: only tensors and plain
containers are unpickled, so a file crafted to run code is refused, never run.
``.safetensors`` files are read with the safetensors package.

Pretrained torchvision weights cannot be downloaded by edgecnn; ``--weights
imagenet`` looks for the file torchvision would have downloaded in the torch hub
cache (``$TORCH_HOME/hub/checkpoints``) and says where to put it when absent.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import DependencyMissing, HeadMismatchError, UsageError, WeightsError
from ..fileio import atomic_path, sha256_file

CHECKPOINT_FORMAT = "edgecnn.checkpoint"
CHECKPOINT_VERSION = 1
PRETRAINED_ALIASES = ("imagenet", "default", "pretrained")


@dataclass
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    path: Path
    sha256: str
    checkpoint: dict[str, Any] = field(default_factory=dict)  # edgecnn metadata, without the tensors

    @property
    def is_checkpoint(self) -> bool:
        return bool(self.checkpoint)


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if re.search(r"Unsupported global|not an allowed global|Unsupported class|GLOBAL ", text):
            found = re.search(r"(?:GLOBAL|global) ([\w.]+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise WeightsError(
                f"refusing to load {path}: it holds Python objects{what} that would run code when "
                "unpickled; edgecnn only reads tensors. Re-save it with torch.save(model.state_dict(), PATH)"
            ) from None
        raise WeightsError(f"{path} is not a readable PyTorch weights file (corrupt or truncated?)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError, KeyError):
        raise WeightsError(f"{path} is not a readable PyTorch weights file (corrupt or truncated?)") from None


def _safetensors_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise DependencyMissing("safetensors", purpose=f"reading {path.name}") from None
    try:
        return load_file(str(path))
    except Exception:
        raise WeightsError(f"{path} is not a readable safetensors file (corrupt or truncated?)") from None


def _as_state_dict(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        meta = {k: v for k, v in obj.items() if k != "state_dict"}
        obj = obj.get("state_dict")
    elif isinstance(obj, dict):
        for wrapper in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds no state_dict (a mapping of parameter names to tensors)")
    state = {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}
    return state, meta


def read_weights(path: str | os.PathLike) -> LoadedWeights:
    """Read a state_dict, a wrapped state_dict or an edgecnn checkpoint from ``path``."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    if path.is_dir():
        raise WeightsError(f"weights path {path} is a directory, not a file")
    obj = _safetensors_load(path) if path.suffix == ".safetensors" else _torch_load(path)
    state, meta = _as_state_dict(obj, path)
    return LoadedWeights(state_dict=state, path=path, sha256=sha256_file(path), checkpoint=meta)


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, *, arch: str, classes: list[str],
                    input_size: tuple[int, int, int], preprocess: dict[str, Any],
                    metrics: dict[str, float] | None = None, force: bool = True, **extra: Any) -> Path:
    """Write an edgecnn checkpoint atomically; ``torch.load(weights_only=True)`` reads it."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "arch": arch,
        "num_classes": len(classes),
        "classes": list(classes),
        "input_size": list(input_size),
        "preprocess": preprocess,
        "metrics": dict(metrics or {}),
        **extra,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path, force=force) as tmp:
        torch.save(payload, tmp)
    return Path(path)


# ---------------------------------------------------------------- pretrained, offline
def torchvision_cache_file(model_name: str, weights_enum: str, member: str | None = None) -> tuple[Path, str]:
    """Where torchvision's hub cache keeps the pretrained file, and the file's source URL."""
    import torchvision.models as tvm

    enum = tvm.get_model_weights(model_name)
    assert enum.__name__ == weights_enum
    try:
        weights = enum.DEFAULT if member is None else enum[member]
    except KeyError:
        names = ", ".join(w.name for w in enum)
        raise UsageError(f"{model_name} has no pretrained weights {member!r}; choose one of {names}") from None
    filename = os.path.basename(weights.url)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename, weights.url


def resolve_pretrained(spec, weights: str) -> Path:
    """Map ``imagenet``/``default``/an enum member (``IMAGENET1K_V2``) to a file in the offline cache."""
    if spec.torchvision_weights is None:
        raise UsageError(
            f"{spec.name} has no published pretrained weights edgecnn can find offline; pass --weights FILE"
        )
    member = None if weights.lower() in PRETRAINED_ALIASES else weights
    path, url = torchvision_cache_file(spec.name, spec.torchvision_weights, member)
    if not path.exists():
        raise WeightsError(
            f"pretrained weights for {spec.name} are not in the offline cache and cannot be downloaded "
            f"here: copy {os.path.basename(url)} to {path} (or set TORCH_HOME), or pass --weights FILE"
        )
    return path


# ---------------------------------------------------------------- fitting a state_dict to a model
_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _upgrade_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename keys of old torchvision DenseNet files ("norm.1" -> "norm1"), as torchvision does."""
    out = {}
    for key, value in state.items():
        match = _DENSENET_OLD_KEY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], *, arch: str, source: str,
              head_prefixes: tuple[str, ...] = (), optional_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``model`` strictly, explaining any mismatch in one line."""
    state = _upgrade_keys(state)
    expected = model.state_dict()

    def optional(key: str) -> bool:
        return any(key.startswith(p) for p in optional_prefixes)

    missing = [k for k in expected if k not in state and not optional(k)]
    unexpected = [k for k in state if k not in expected and not optional(k)]
    mismatched = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or mismatched):
        model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
        return
    in_head = lambda k: any(k == p or k.startswith(p + ".") for p in head_prefixes)  # noqa: E731
    if mismatched and not missing and not unexpected and all(in_head(k) for k in mismatched):
        key = mismatched[0]
        layer = key.rsplit(".", 1)[0]
        raise HeadMismatchError(
            f"the head does not fit: layer {layer} is {_fmt(state[key].shape)} in {source} but "
            f"{_fmt(expected[key].shape)} in {arch} (key {key})"
        )
    problems = [f"{k}: {_fmt(state[k].shape)} in file vs {_fmt(expected[k].shape)} in model" for k in mismatched[:2]]
    problems += [f"missing {k}" for k in missing[:2]] + [f"unexpected {k}" for k in unexpected[:2]]
    counts = f"{len(mismatched)} shape mismatches, {len(missing)} missing, {len(unexpected)} unexpected keys"
    raise WeightsError(
        f"{source} does not fit {arch} ({counts}; e.g. {'; '.join(problems)}): "
        "was it saved from another architecture?"
    )
