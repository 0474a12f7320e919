"""What `sample.py` and the studio draw from a generator: grids, digit rows, walks and noise arithmetic.

Each mode returns a `Sheet`: images in [-1, 1] and how many columns to lay them out in. The noise of
seed `s` is always `randn(1, latent_dim)` from a generator seeded with `s`, so seed `s` means the
same digit in every mode (the first digit of `mode=grid seed=s` too).
"""

import inspect
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_digits.checkpoint import build_generator, load_checkpoint
from gan_digits.checks import (ConfigError, as_typed, check_choice, check_int, check_output, check_output_folder,
                               check_path, listed)
from gan_digits.command_line import override_key
from gan_digits.data import load_split
from gan_digits.data.idx import SPLIT_SIZES
from gan_digits.data.pixels import to_model_range
from gan_digits.nets.contract import Generator
from gan_digits.sampling import (OUTPUT_SUFFIXES, SCALES, codes_for, draw, grid_columns, grid_image, labels_for,
                                 save_png, save_pngs, save_walk_gif, write_npz)

COLUMNS = 8
# One sheet's digits are drawn in memory at once: at most MNIST's size (~200 MB of float pixels), so a
# mistyped count is refused in one line instead of failing to allocate.
MAX_DIGITS = SPLIT_SIZES["train"]
SEEDS = (0, 2**31 - 1)  # the seeds sample.py, the studio and evaluate take


@dataclass
class Sheet:
    images: torch.Tensor  # (N, 1, 28, 28) in [-1, 1]
    columns: int
    labels: torch.Tensor | None = None  # the digit asked of each image, None if unconditional


def noise(seed: int, n: int, latent_dim: int, key: str = "seed") -> torch.Tensor:
    """`n` noise vectors from seed `seed` (the request's `key`, named if it is not a seed)."""
    seed = check_int(key, seed, *SEEDS)
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def asked_rows(generator: Generator, digits: Sequence[int] | None, codes: Sequence[int] | None,
               every_code: bool) -> list[int] | None:
    """A row's digit (or code) each: the digits asked of a conditional model (default 0..9), or the codes asked
    of a model with `Generator.codes` (default all it draws with `every_code`, else None: each noise its own
    code); None for a model with neither. Each one asked is checked, and refused of a model without them."""
    labels_for(generator, 1, digits)
    codes_for(generator, 1, codes)
    if generator.num_classes is not None:
        return list(range(generator.num_classes) if digits is None else digits)
    if codes is None and every_code and generator.codes:
        return generator.drawn_codes()
    return None if codes is None else list(codes)


def labels_and_codes(generator: Generator, each: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """`each` (a value per image, from asked_rows) as the digits asked of a conditional model, else as codes."""
    return (each, None) if generator.num_classes is not None else (None, each)


def row_each(generator: Generator, digits: Sequence[int] | None, codes: Sequence[int] | None,
             z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The noise `z` (one row of images) repeated for each digit asked of a conditional model (default 0..9) or
    each code asked (default none: one row, each noise its own code): every image's noise, label and code,
    row by row. The same noise in every row: what changes from row to row is the digit (or code) alone."""
    rows = asked_rows(generator, digits, codes, every_code=False)
    if rows is None:
        return z, None, None
    each = torch.tensor(rows).repeat_interleave(len(z))
    return z.repeat(len(rows), 1), *labels_and_codes(generator, each)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: stays where Gaussian noise lives (its norm), unlike a straight line."""
    a_unit, b_unit = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    t = t.unsqueeze(-1)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def grid(generator: Generator, n: int = 64, seed: int = 0, digits: Sequence[int] | None = None,
         codes: Sequence[int] | None = None, columns: int | None = None, **_) -> Sheet:
    """`n` digits from seed `seed`; a conditional model cycles through `digits` (default 0..9), one with codes
    (InfoGAN's, or clusters) through `codes` (default: each noise's own). `columns` wide, by default about square
    (a multiple of the digits or codes cycled: one per column)."""
    n = check_int("n", n, 1, MAX_DIGITS)
    labels, asked_codes = labels_for(generator, n, digits), codes_for(generator, n, codes)
    layout = labels if asked_codes is None else asked_codes
    columns = grid_columns(n, layout) if columns is None else check_int("columns", columns, 1, n)
    return Sheet(draw(generator, noise(seed, n, generator.latent_dim), labels, asked_codes), columns, labels)


def digit_rows(generator: Generator, digits: Sequence[int] | None = None, codes: Sequence[int] | None = None,
               seed: int = 0, columns: int | None = None, **_) -> Sheet:
    """One row per digit in `digits` (conditional models, default 0..9) or per code in `codes` (a model with
    InfoGAN codes or, unconditional, clusters; default all it draws: what each draws), `columns` variations each
    (default 8)."""
    if generator.num_classes is None and generator.codes is None:
        raise ConfigError("mode=digits needs a conditional model (such as cdcgan) or one with codes: InfoGAN's "
                          "(model.generator.latent_codes) or clusters (model.generator.clusters, dcgan's default): "
                          "this checkpoint's has neither")
    rows = asked_rows(generator, digits, codes, every_code=True)
    columns = check_int("columns", COLUMNS if columns is None else columns, 1, MAX_DIGITS // len(rows))
    each = torch.tensor(rows).repeat_interleave(columns)
    labels, asked_codes = labels_and_codes(generator, each)
    return Sheet(draw(generator, noise(seed, len(each), generator.latent_dim), labels, asked_codes), columns, labels)


def interpolate(generator: Generator, a: int = 0, b: int = 1, steps: int = 10, digits: Sequence[int] | None = None,
                codes: Sequence[int] | None = None, **_) -> Sheet:
    """A walk from seed `a`'s noise to seed `b`'s in `steps` images (spherical interpolation); a row per digit (or
    code) asked, each the same walk."""
    steps = check_int("steps", steps, 2, MAX_DIGITS)
    t = torch.linspace(0, 1, steps)
    z = slerp(noise(a, 1, generator.latent_dim, "a"), noise(b, 1, generator.latent_dim, "b"), t)
    z, labels, asked_codes = row_each(generator, digits, codes, z)
    if len(z) > MAX_DIGITS:  # one sheet, drawn at once
        rows = len(z) // steps
        raise ConfigError(f"steps={steps} is not allowed with a row for each of the {rows} digits or codes asked: "
                          f"expected at most {MAX_DIGITS // rows} (or ask for fewer)")
    return Sheet(draw(generator, z, labels, asked_codes), steps, labels)


def arithmetic(generator: Generator, a: int = 0, b: int = 1, op: str = "add", digits: Sequence[int] | None = None,
               codes: Sequence[int] | None = None, **_) -> Sheet:
    """Seed `a`'s digit, seed `b`'s digit, and the digit of their noise added (`op=add`) or subtracted; a row per
    digit (or code) asked."""
    check_choice("op", op, ("add", "sub"))
    z_a, z_b = noise(a, 1, generator.latent_dim, "a"), noise(b, 1, generator.latent_dim, "b")
    z = torch.cat([z_a, z_b, z_a + z_b if op == "add" else z_a - z_b])
    z, labels, asked_codes = row_each(generator, digits, codes, z)
    return Sheet(draw(generator, z, labels, asked_codes), 3, labels)


def compare(generator: Generator, real: tuple[torch.Tensor, torch.Tensor], n: int = 32, seed: int = 0,
            digits: Sequence[int] | None = None, codes: Sequence[int] | None = None, columns: int | None = None,
            **_) -> Sheet:
    """Real MNIST test digits (left) beside generated ones (right), in the same layout (`mode=grid`'s, `columns`
    wide each): for a conditional model, each real digit is the one the generated digit beside it was asked to be."""
    generated = grid(generator, n, seed, digits, codes, columns)
    images, labels = real
    if generated.labels is None:
        picked = images[torch.arange(n) % len(images)]  # more than the 10,000 test digits: they come round again
    else:
        by_digit = {d: images[labels == d] for d in generated.labels.unique().tolist()}
        seen = {d: 0 for d in by_digit}
        picked = []
        for d in generated.labels.tolist():
            picked.append(by_digit[d][seen[d] % len(by_digit[d])])
            seen[d] += 1
        picked = torch.stack(picked)
    columns = generated.columns
    rows = math.ceil(n / columns)
    pad = torch.full((rows * columns - n, 1, 28, 28), 1.0)  # white: fills the last row of each side
    real_rows = torch.cat([to_model_range(picked.unsqueeze(1)), pad]).view(rows, columns, 1, 28, 28)
    fake_rows = torch.cat([generated.images, pad]).view(rows, columns, 1, 28, 28)
    gap = torch.ones(rows, 1, 1, 28, 28)  # one white cell between the two sides
    side_by_side = torch.cat([real_rows, gap, fake_rows], dim=1).view(-1, 1, 28, 28)
    return Sheet(side_by_side, 2 * columns + 1, None)


MODES = {"grid": grid, "digits": digit_rows, "interpolate": interpolate, "arithmetic": arithmetic, "compare": compare}
SAMPLE_MODES = (*MODES, "npz")  # sample.py's: npz writes mode=grid's digits into a .npz
PNG_LAYOUT = ("columns", "scale")  # how a PNG lays its digits out: nothing to a .npz


def settings_read(mode: str) -> list[str]:
    """The settings of `sample()` that `mode` reads: where it writes, its function's parameters, the PNG's scale."""
    drawn = inspect.signature(MODES["grid" if mode == "npz" else mode]).parameters
    own = [name for name in drawn if name not in ("generator", "real", "_")]
    read = ["ckpt", "mode", "out", *own, "scale", *(["data_root"] if mode == "compare" else [])]
    return [key for key in read if not (mode == "npz" and key in PNG_LAYOUT)]


def check_settings_read(settings: dict[str, Any], overrides: Iterable[str]) -> None:
    """Every setting typed in `overrides` (`key=value`, as sample.py is given them) read by the mode of `settings`
    (the composed config): `a=3 b=8` without `mode=interpolate` drew the default grid, `columns=10` a grid as wide
    as ever, and said nothing."""
    mode = check_choice("mode", settings["mode"], SAMPLE_MODES)
    read = settings_read(mode)
    for key in map(override_key, overrides):
        if key in settings and key not in read:
            readers = "mode=" + listed([other for other in SAMPLE_MODES if key in settings_read(other)], "and")
            raise ConfigError(f"{key}={as_typed(settings[key])} is not allowed with mode={mode}, which does not read "
                              f"it: {key} is for {readers} (mode={mode} reads {', '.join(read[2:])})")


def is_folder(out: str | Path) -> bool:
    """Whether `out` names a folder: it ends in a slash (`digits/`), or is one already."""
    return str(out).endswith(("/", os.sep)) or Path(out).is_dir()


def folder_out(out: str | Path, mode: str, columns: Any) -> Path:
    """The folder `out`, checked, that `mode` writes a PNG per digit into: grid's digits alone, laid out in no grid."""
    if mode != "grid":
        raise ConfigError(f"out={str(out)!r} does not fit mode={mode}: a folder (one PNG per digit) is for mode=grid")
    if columns is not None:
        raise ConfigError(f"columns={as_typed(columns)} does not fit out={str(out)!r}: a folder holds each digit as a "
                          f"PNG of its own (columns lays out a grid)")
    return check_output_folder(out)


def file_out(out: str | Path | None, mode: str, scale: int, columns: Any) -> Path:
    """The file `out` (default `<mode>.png`, digits.npz for npz), checked, that `mode` writes: a .npz holds the
    digits themselves, laid out in no grid and not enlarged."""
    if out is not None and not Path(out).suffix:
        raise ConfigError(f"out={str(out)!r} is not allowed: expected a file ending in one of "
                          f"{', '.join(OUTPUT_SUFFIXES)}, or a folder ending in / (mode=grid: a PNG per digit)")
    out = check_output(out or ("digits.npz" if mode == "npz" else f"{mode}.png"), OUTPUT_SUFFIXES)
    suffixes = {"npz": (".npz",), "grid": (".png", ".npz"), "interpolate": (".png", ".gif")}.get(mode, (".png",))
    if out.suffix not in suffixes:
        folder = ", or a folder ending in / (a PNG per digit)" if mode == "grid" else ""
        raise ConfigError(f"out={str(out)!r} does not fit mode={mode}: expected a file ending in "
                          f"{' or '.join(suffixes)}{folder}")
    if out.suffix == ".npz":
        for key, value, default in (("scale", scale, 1), ("columns", columns, None)):
            if value != default:
                raise ConfigError(f"{key}={as_typed(value)} does not fit out={str(out)!r}: a .npz holds the 28x28 "
                                  f"digits themselves ({key} lays out a PNG)")
    return out


def sample(ckpt: str | Path, out: str | Path | None = None, mode: str = "grid", data_root: str | Path = "data",
           scale: int = 1, **params) -> Path:
    """Draw `mode` from the generator in `ckpt` into `out` and return its path.

    A `.npz` out (or `mode=npz`, default out digits.npz) exports `mode=grid`'s digits for evaluate, a folder out
    (`digits/`) each of them as a PNG of its own; every other mode writes a PNG (default `<mode>.png`), enlarged
    `scale` times; `interpolate` also a `.gif`, the walk animated. `compare` reads real digits from `data_root`.
    """
    check_choice("mode", mode, SAMPLE_MODES)
    check_int("scale", scale, *SCALES)
    to_folder = out is not None and is_folder(check_path("out", out))
    columns = params.get("columns")
    out = folder_out(out, mode, columns) if to_folder else file_out(out, mode, scale, columns)
    for key in ("digits", "codes"):
        if params.get(key) is not None and not isinstance(params[key], (list, tuple)):
            params[key] = [params[key]]  # digits=3: one digit, as digits=[3] (digits=abc or 3.5: one bad value)
    generator = build_generator(load_checkpoint(check_path("ckpt", ckpt)))
    if mode == "compare":
        params["real"] = load_split(check_path("data_root", data_root), "test")
    sheet = MODES["grid" if mode == "npz" else mode](generator, **params)
    if to_folder:
        save_pngs(sheet.images, sheet.labels, out, scale)
    elif out.suffix == ".npz":
        write_npz(sheet.images, sheet.labels, out)
    elif out.suffix == ".gif":
        save_walk_gif(sheet.images, sheet.columns, out, scale)
    else:
        save_png(grid_image(sheet.images, sheet.columns), out, scale)
    return out
