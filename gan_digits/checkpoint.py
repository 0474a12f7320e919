"""What a gan_digits checkpoint holds beyond Lightning's, and how to read one safely.

A checkpoint holds plain types only (state dicts, numbers, strings, the model's config as a dict),
so `torch.load(..., weights_only=True)` reads it and no pickled code ever runs. The generator is
rebuilt from the saved config, whose `_target_`s must name this package's networks.
"""

import pickle
import re
import zipfile
from pathlib import Path

import torch

from gan_digits.checks import UserInputError, instantiate
from gan_digits.nets.contract import Generator

FORMAT_KEY = "gan_digits"
FORMAT_VERSION = 1
ALLOWED_TARGET_PREFIX = "gan_digits."


class CheckpointError(UserInputError):
    """A checkpoint that is missing, unreadable, unsafe, or not written by gan_digits."""


def checkpoint_payload(model_config: dict, precision: str) -> dict:
    """The entry `GANModule` adds to every checkpoint it saves: the model's config and the precision it trained at."""
    return {"format_version": FORMAT_VERSION, "model": model_config, "precision": precision}


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint with `weights_only=True`; check it is a gan_digits checkpoint we can read."""
    path = Path(path).expanduser()  # "~/runs/last.ckpt" from a notebook, or a shell that left the ~ alone
    if path.is_dir():
        inside = next((p for p in (path / "last.ckpt", path / "checkpoints" / "last.ckpt") if p.is_file()), None)
        hint = f", such as {inside}" if inside else ""
        raise CheckpointError(f"checkpoint {path} is a folder: expected a .ckpt file written by train.py{hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):  # torch.save writes one; any other file fails deep in torch's unpickler
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt, or not a checkpoint at all "
                              "(expected the zip archive torch.save writes: a .ckpt from train.py)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # What the unpickler met (`Unsupported global: GLOBAL os.system`), not torch's advice to load it unsafely.
        named = re.search(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)", str(err))
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain types, which could run code "
            f"when unpickled{f' (it names {named.group(1)})' if named else ''}; gan_digits checkpoints never do"
        ) from err
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt ({err})") from err
    entry = checkpoint.get(FORMAT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(entry, dict) or "model" not in entry:
        raise CheckpointError(
            f"{path} is not a gan_digits checkpoint: it has no '{FORMAT_KEY}' entry (expected a .ckpt written by train.py)"
        )
    version = entry.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this gan_digits reads version {FORMAT_VERSION}"
        )
    return checkpoint


def foreign_target(node) -> str | None:
    """The first `_target_` in a config `node` outside this package, or None: a config read from a file must
    not call arbitrary code."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(ALLOWED_TARGET_PREFIX):
            return str(target)
        node = list(node.values())
    for value in node if isinstance(node, list) else ():
        if (found := foreign_target(value)) is not None:
            return found
    return None


def build_generator(checkpoint: dict) -> Generator:
    """The generator saved in `checkpoint`, rebuilt from its config, weights loaded, in eval mode."""
    config = checkpoint[FORMAT_KEY]["model"].get("generator")
    if (target := foreign_target(config)) is not None:
        raise CheckpointError(f"refusing to build the generator: _target_ {target!r} is not a gan_digits class")
    generator = instantiate(config)
    if not isinstance(generator, Generator):
        raise CheckpointError(f"the checkpoint's generator config builds a {type(generator).__name__}, not a Generator")
    # The EMA copy when the run kept one: it is what the run itself sampled from.
    state = checkpoint["state_dict"]
    prefix = "generator_ema." if any(k.startswith("generator_ema.") for k in state) else "generator."
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        generator.load_state_dict(weights)
    except RuntimeError as err:  # keys or shapes that this code's network does not have
        raise CheckpointError(
            f"the checkpoint's generator weights do not fit the {type(generator).__name__} its config builds "
            f"(written by another version of gan_digits?): {' '.join(str(err).split())[:300]}"
        ) from err
    return generator.eval()
