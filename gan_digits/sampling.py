"""Turn a generator into digits: drawing, labels, grids and the files sample.py writes."""

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gan_digits.checks import ConfigError, UserInputError, check_int
from gan_digits.data.pixels import to_uint8
from gan_digits.nets.contract import Generator

OUTPUT_SUFFIXES = (".png", ".npz", ".gif")
WALK_FRAME_MS = 80  # a walk's GIF: 12 steps there and back in under 2 s
CHUNK = 1000  # samples drawn at once: bounds memory for large n
PADDING = 2  # white pixels between digits and around the grid
WHITE = 255
SCALES = (1, 16)  # an image's pixels drawn as squares of this many pixels a side: sharp digits on a slide
MAX_SIDE = 16_384  # pixels: 64 digits at scale 16 are 3,872 wide; 60,000 at scale 3 would be 22,056
LABELLED_PNG = re.compile(r"\d{5}_(\d)\.png")  # save_pngs' name of a digit asked for: its place, then the digit


@torch.no_grad()
def draw(generator: Generator, z: torch.Tensor, y: torch.Tensor | None,
         codes: torch.Tensor | None = None) -> torch.Tensor:
    """Samples in [-1, 1] drawn in eval mode (BatchNorm on running statistics); the mode is restored after.
    `codes`: the code each sample is asked for (`Generator.codes`: InfoGAN's, or a cluster), set in its noise."""
    if codes is not None:
        z = generator.with_code(z, codes)
    was_training = generator.training
    generator.eval()
    try:
        chunks = [
            generator(z[i : i + CHUNK], None if y is None else y[i : i + CHUNK]).float() for i in range(0, len(z), CHUNK)
        ]
        return torch.cat(chunks)
    finally:
        generator.train(was_training)


def cycled(key: str, asked: Sequence[int], count: int, n: int) -> torch.Tensor:
    """`n` values cycling through `asked`, each checked to be one of 0..count-1 (`key` names them if not)."""
    asked = list(asked)
    if not asked:
        raise ConfigError(f"{key}=[] is not allowed: expected a list of {key} from 0 to {count - 1}")
    for value in asked:
        check_int(key, value, 0, count - 1)
    return torch.tensor(asked)[torch.arange(n) % len(asked)]


def labels_for(generator: Generator, n: int, digits: Sequence[int] | None) -> torch.Tensor | None:
    """The digit asked of each sample, cycling through `digits` (all of 0..9 by default); None if unconditional."""
    if generator.num_classes is None:
        if digits is not None:
            fix = (f"ask for its {CODES_ARE[bool(generator.latent_codes)]} instead, codes={list(digits)} "
                   "(mode=digits shows what each draws)" if generator.codes else
                   "leave digits out (only a conditional model such as cdcgan can be asked for a digit)")
            raise ConfigError(f"digits={list(digits)} given, but this checkpoint's {type(generator).__name__} "
                              f"is unconditional: {fix}")
        return None
    return cycled("digits", range(generator.num_classes) if digits is None else digits, generator.num_classes, n)


# What a model's codes are (`Generator.codes`), by whether they are InfoGAN's.
CODES_ARE = {True: "InfoGAN codes", False: "clusters"}


def codes_for(generator: Generator, n: int, codes: Sequence[int] | None) -> torch.Tensor | None:
    """The code asked of each sample (`Generator.codes`: InfoGAN's, or an unconditional model's clusters), cycling
    through `codes`; None (each noise's own code) when none are asked. Which digit a code draws is the model's own
    choice, learnt unlabelled."""
    if codes is None:
        return None
    if not generator.codes:
        fix = (f"ask for its digits instead, digits={list(codes)}" if generator.num_classes else
               "leave codes out (only a model trained with model.generator.latent_codes or model.generator.clusters "
               "has them)")
        raise ConfigError(f"codes={list(codes)} given, but this checkpoint's {type(generator).__name__} "
                          f"has no codes: {fix}")
    asked = cycled("codes", codes, generator.codes, n)
    if never := sorted(set(asked.tolist()) - set(generator.drawn_codes())):
        raise ConfigError(f"codes={list(codes)} asks for clusters {never}, which hold no training digits: the model "
                          f"never learnt to draw them (those it draws: {generator.drawn_codes()})")
    return asked


def grid_columns(n: int, labels: torch.Tensor | None) -> int:
    """About square; a multiple of the digits (or codes) cycled, if any, so each column is one of them."""
    if labels is None:
        return math.ceil(math.sqrt(n))
    cycle = len(labels.unique())
    return cycle * max(1, round(math.sqrt(n) / cycle))


def grid_image(images: torch.Tensor, columns: int) -> torch.Tensor:
    """Images (n, 1, H, W) in [-1, 1] tiled `columns` wide on white padding: a (1, H', W') uint8 image.

    The layout of torchvision's `make_grid` (tested against it), in the pixels of `to_uint8`. Tiled
    here because importing torchvision took ~3 s of sample.py's ~9 on a 2-core CPU (docs/speed.md).
    """
    n, _, height, width = images.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    cells = torch.full((rows * columns, height + PADDING, width + PADDING), WHITE, dtype=torch.uint8)
    cells[:n, PADDING:, PADDING:] = to_uint8(images[:, 0])  # each cell: padding above and left of its digit
    grid = cells.view(rows, columns, height + PADDING, width + PADDING).permute(0, 2, 1, 3)
    grid = grid.reshape(rows * (height + PADDING), columns * (width + PADDING))
    return F.pad(grid, (0, PADDING, 0, PADDING), value=WHITE).unsqueeze(0)  # and the grid's right and bottom edge


def enlarged(image: Image.Image, scale: int) -> Image.Image:
    """`image` with each pixel a `scale` x `scale` square (no blur, as an image viewer's enlarging would add)."""
    check_int("scale", scale, *SCALES)
    if scale == 1:
        return image
    width, height = image.width * scale, image.height * scale
    if max(width, height) > MAX_SIDE:
        raise ConfigError(f"scale={scale} is not allowed here: it makes a {width:,} x {height:,} px image, over "
                          f"{MAX_SIDE:,} px a side (scale={max(1, MAX_SIDE // max(image.size))} fits)")
    return image.resize((width, height), Image.Resampling.NEAREST)


def save_png(grid: torch.Tensor, target: str | Path | BinaryIO, scale: int = 1) -> None:
    """Writes a `grid_image` as a grayscale PNG to a path or a binary file, enlarged `scale` times."""
    enlarged(Image.fromarray(grid[0].numpy()), scale).save(target, format="png")


def save_walk_gif(images: torch.Tensor, steps: int, out: Path, scale: int = 1) -> None:
    """A walk's `images` (a row of `steps` for each digit asked) as a looping GIF, there and back: frame t holds
    every row's t-th image side by side, so the digits morph together."""
    rows = images.view(-1, steps, *images.shape[1:])
    there_and_back = [*range(steps), *range(steps - 2, 0, -1)]
    frames = [enlarged(Image.fromarray(grid_image(rows[:, t], len(rows))[0].numpy()), scale) for t in there_and_back]
    frames[0].save(out, format="gif", save_all=True, append_images=frames[1:], duration=WALK_FRAME_MS, loop=0)


def save_pngs(images: torch.Tensor, labels: torch.Tensor | None, folder: Path, scale: int = 1) -> None:
    """Each of `images` as its own grayscale PNG in `folder` (made here when new): `00042_7.png` for the 43rd,
    asked to be a 7, `00042.png` where unconditional. A folder of images is what other FID tools read."""
    folder.mkdir(exist_ok=True)
    asked = [None] * len(images) if labels is None else labels.tolist()
    for index, (digit, label) in enumerate(zip(to_uint8(images[:, 0]).numpy(), asked)):
        name = f"{index:05d}" + ("" if label is None else f"_{label}")
        enlarged(Image.fromarray(digit), scale).save(folder / f"{name}.png", format="png")


def read_pngs(folder: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A folder's PNGs in name order: uint8 images (n, 28, 28), grey (colour is made grey), and the digit each was
    asked to be where every one is named as `save_pngs` names them (`00042_7.png`), else None (unconditional)."""
    files = sorted(folder.glob("*.png"))
    if not files:
        raise UserInputError(f"{folder} holds no .png files: expected a folder of 28x28 digits (sample.py "
                             f"out=<folder>/ writes one)")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                grey = image.convert("L")
        except OSError as err:  # PIL's UnidentifiedImageError too
            raise UserInputError(f"cannot read {file}: {err}") from err
        if grey.size != (28, 28):
            raise UserInputError(f"{file} is {grey.size[0]}x{grey.size[1]} px, expected 28x28 as MNIST's digits "
                                 f"(sample.py writes them so with scale=1)")
        images.append(np.asarray(grey))
    named = [LABELLED_PNG.fullmatch(file.name) for file in files]
    return np.stack(images), np.array([int(match[1]) for match in named]) if all(named) else None


def write_npz(images: torch.Tensor, labels: torch.Tensor | None, out: Path) -> None:
    """`images` uint8 (n, 28, 28), 0 = background, and `labels` int64 (n,), -1 = unconditional: what evaluate reads."""
    labels = torch.full((len(images),), -1) if labels is None else labels
    np.savez(out, images=to_uint8(images[:, 0]).numpy(), labels=labels.long().numpy())
