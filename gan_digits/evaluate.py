"""Score a checkpoint, digits (an npz, a folder of PNGs) or real ones: `python -m gan_digits.evaluate <path> [n=10000]`.

Prints a table, then one JSON line with every metric (see gan_digits/metrics/quality.py).
`--real` (or `real=true`) scores n real training digits instead: the floor every model is compared
against; `--floor` scores both, the floor beside, with FID and intra-class FID as multiples of the
floor's (a few seconds more: the real test digits are read once for both). `backbone=inception`
computes FID and KID on Inception-v3 features instead of the project's classifier: the standard FID
(needs torch-fidelity and its weights). `--per-digit` adds a row per digit: its share of the samples and, for a
conditional model, its label accuracy and intra-class FID (which digit the model draws worst); for one with codes
(InfoGAN's, or clusters), a row per code (the digit it draws, how purely). Options also read as key=value: `n=2000
seed=1 data=../shared/data`.
"""

import hashlib
import json
import zipfile
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch

from gan_digits.allocator import keep_freed_memory
from gan_digits.checkpoint import build_generator, load_checkpoint
from gan_digits.checks import UserInputError, check_choice, check_int, report_user_errors
from gan_digits.command_line import KeyValueParser
from gan_digits.data import load_split
from gan_digits.data.idx import SPLIT_SIZES
from gan_digits.metrics import build_meter, distance_backbone
from gan_digits.metrics.quality import BACKBONES, QualityMeter, check_kid_subset_size
from gan_digits.metrics.scoring import BATCH, add_generated_digits, add_real_features, distance_features
from gan_digits.modes import SEEDS
from gan_digits.nets.contract import Generator
from gan_digits.sampling import read_pngs


# uint8 images (N, 1, 28, 28) and the digits they were asked to be (None: unconditional).
Digits = tuple[torch.Tensor, torch.Tensor | None]
# The distances shown as multiples of the real-data floor's, as the README's results give them.
X_FLOOR = ("fid", "intra_fid")


def times_floor(metrics: dict[str, float], floor: dict[str, float]) -> dict[str, float]:
    """{fid_x_floor: ..., intra_fid_x_floor: ...}: how many times the floor's distance each is."""
    return {f"{key}_x_floor": round(metrics[key] / floor[key], 2) for key in X_FLOOR if key in metrics}


def load_npz(path: Path) -> Digits:
    """uint8 images `(N, 1, 28, 28)` and the digits asked for (None when all labels are -1, or when the file has
    none: an npz of another project's GAN may hold its images alone). Images may come as `(N, 28, 28)`, as
    written by sample.py, `(N, 1, 28, 28)` or `(N, 784)`; labels as any integers."""
    try:
        data = np.load(path)
        images = data["images"]
        labels = data["labels"] if "labels" in data.files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # BadZipFile: a truncated file
        raise UserInputError(f"cannot read {path}: {err}; expected an npz with 'images' (and 'labels')") from err
    if images.shape[1:] in ((1, 28, 28), (784,)):
        images = images.reshape(-1, 28, 28)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        convert = (" (floats in [0, 1]: np.round(images * 255).astype(np.uint8); a tanh's, in [-1, 1]: "
                   "np.round((images + 1) * 127.5).astype(np.uint8))") if images.dtype.kind == "f" else ""
        raise UserInputError(f"{path}: images are {images.dtype} {images.shape}, expected uint8 (N, 28, 28), 0 for "
                             f"the background and 255 for ink as in MNIST{convert}")
    if labels is None:
        return torch.from_numpy(images).unsqueeze(1), None
    if labels.dtype.kind not in "iu" or labels.shape != (len(images),):
        raise UserInputError(f"{path}: labels are {labels.dtype} {labels.shape}, expected integers ({len(images)},)")
    labels = labels.astype(np.int64)
    if (labels == -1).all():
        return torch.from_numpy(images).unsqueeze(1), None
    if labels.min() < 0 or labels.max() > 9:
        raise UserInputError(f"{path}: labels must all be -1 (unconditional) or all digits 0-9, got {sorted(set(labels.tolist()))[:12]}")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def _digits_to_score(path: str | None, data: str, n: int, real: bool) -> tuple[Generator | None, Digits | None]:
    """What `path` (a .ckpt, an .npz or a folder of PNGs) or, with `real`, the first n real training digits give to
    score: a generator, or the digits themselves with the ones they were asked to be (None: unconditional)."""
    if real and path is not None:
        raise UserInputError(f"--real scores real digits, and {path} was given too: give one of them")
    if real:
        images, labels = load_split(data, "train")
        return None, (images[:n].unsqueeze(1), labels[:n])
    if path is not None and Path(path).suffix == ".npz":
        return None, load_npz(Path(path))
    if path is not None and Path(path).is_dir() and not (Path(path) / "checkpoints").is_dir():  # not a run dir
        images, labels = read_pngs(Path(path))
        return None, (torch.from_numpy(images).unsqueeze(1), None if labels is None else torch.from_numpy(labels))
    if path is not None:
        return build_generator(load_checkpoint(path)), None
    raise UserInputError("nothing to evaluate: give a checkpoint, an .npz or a folder of PNGs, or --real")


# The latest real test digits' features, by (backbone, inception_weights, the digits' digest): one entry.
REAL_TEST_FEATURES: dict[tuple, torch.Tensor] = {}


def add_real_test_features(meter: QualityMeter, data: str, backbone: str, inception_weights: str | None) -> None:
    """The MNIST test digits as the meter's real side. Their features are kept for the next call in the process that
    reads the same digits with the same backbone: scoring several checkpoints from Python (a notebook, a script)
    computes the 10,000 digits' features (~5 s on a 2-core CPU) once."""
    images, labels = load_split(data, "test")
    digest = hashlib.blake2b(images.numpy(), digest_size=16)  # read in place, not copied to bytes first
    digest.update(labels.numpy())  # the digits themselves: another folder holding them is the same key
    key = (backbone, inception_weights, digest.hexdigest())
    if key not in REAL_TEST_FEATURES:
        REAL_TEST_FEATURES.clear()  # one backbone's at a time: Inception's are 80 MB
        REAL_TEST_FEATURES[key] = distance_features(meter, images)
    add_real_features(meter, REAL_TEST_FEATURES[key], labels)


def _score(meter: QualityMeter, generator: Generator | None, digits: Digits | None, n: int,
           seed: int) -> dict[str, float]:
    """Every metric of the generator's first n digits from `seed`, or of `digits`, against the meter's real side."""
    if generator is not None:
        add_generated_digits(meter, generator, n, seed)
    else:
        images, asked = digits
        for i in range(0, len(images), BATCH):
            meter.update_fake(images[i : i + BATCH], None if asked is None else asked[i : i + BATCH])
    return meter.compute()


def evaluate(path: str | None, data: str, n: int = 10_000, seed: int = 0, real: bool = False,
             kid_subset_size: int = 1000, backbone: str = "classifier",
             inception_weights: str | None = None, floor: bool = False, per_digit: bool = False) -> dict[str, float]:
    """Every metric of `path` (a .ckpt, an .npz or a folder of PNGs) or, with `real`, of n real training digits.
    With `floor`, the floor's too, under "floor" with its `n`: as many real training digits (digits given: as many),
    scored against the same real test digits, whose features are computed once. With `per_digit`, the metrics of
    each digit under "per_digit" (`QualityMeter.per_digit`)."""
    kid_subset_size = check_kid_subset_size("kid_subset_size", kid_subset_size, SPLIT_SIZES["test"])
    n = check_int("n", n, kid_subset_size, SPLIT_SIZES["train"],  # before any work; digits given: their count
                  why=f"KID draws subsets of kid_subset_size={kid_subset_size} digits")
    check_int("seed", seed, *SEEDS)  # sample.py's: torch's generator fails past 64 bits, after the real digits' features
    check_choice("backbone", backbone, BACKBONES)
    if inception_weights is not None and backbone != "inception":  # typed, so meant: as sample.py refuses a setting
        raise UserInputError(f"inception_weights={inception_weights} is not allowed with backbone={backbone}, which "
                             f"does not read it: it is for backbone=inception")
    if floor and real:
        raise UserInputError("--floor scores real digits beside what is given, and --real is the floor itself: "
                             "give one of them")
    generator, digits = _digits_to_score(path, data, n, real)
    if generator is None and not real and len(digits[0]) < kid_subset_size:  # digits given: their count is their n
        into = f"into it (sample.py n={kid_subset_size} out={path})" if Path(path).suffix == ".npz" else \
            f"(sample.py n={kid_subset_size} out=<a new folder>/)"
        raise UserInputError(f"{path} holds {len(digits[0])} digits, fewer than kid_subset_size={kid_subset_size} (KID "
                             f"draws subsets of that many): sample at least {kid_subset_size} {into}, or lower "
                             f"kid_subset_size")
    conditional = generator.num_classes is not None if generator else digits[1] is not None
    # The floor is scored per digit too: a meter built conditional keeps each digit's real statistics.
    distances = distance_backbone(backbone, inception_weights, prefix="")
    meter = build_meter(conditional or floor, kid_subset_size, distances, generator.codes if generator else None)
    add_real_test_features(meter, data, backbone, inception_weights)
    meter.reset_fake(conditional)
    metrics = _score(meter, generator, digits, n, seed)
    if per_digit:
        metrics["per_digit"] = meter.per_digit()
        if (per_code := meter.per_code()) is not None:
            metrics["per_code"] = per_code
    if floor:
        floor_n = n if digits is None else min(len(digits[0]), SPLIT_SIZES["train"])  # digits given: their count
        meter.reset_fake(conditional=True)
        floor_digits = _digits_to_score(None, data, floor_n, real=True)[1]
        metrics["floor"] = {**_score(meter, None, floor_digits, floor_n, seed), "n": floor_n}
        if per_digit:
            metrics["floor"]["per_digit"] = meter.per_digit()
    return metrics


def _parse(argv: list[str] | None) -> Namespace:
    parser = KeyValueParser(prog="python -m gan_digits.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?",
                        help="a checkpoint written by train.py, or digits, an npz or a folder of PNGs: sample.py's or "
                        "another GAN's (README)")
    parser.add_argument("--n", type=int, default=10_000, help="digits to generate (checkpoints and --real)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data", help="folder holding MNIST/raw/ (the test split is the reference)")
    parser.add_argument("--real", action="store_true", help="score real training digits: the floor")
    parser.add_argument("--floor", action="store_true", help="score the floor too, and show it beside")
    parser.add_argument("--per-digit", action="store_true", help="a row per digit: its share of the samples and, "
                        "for a conditional model, its label accuracy and intra-class FID; per code (InfoGAN's, or "
                        "cluster), the digit it draws and how purely")
    parser.add_argument("--kid-subset-size", type=int, default=1000)
    parser.add_argument("--backbone", default="classifier", help="FID/KID features: classifier (the project's "
                        "own) or inception (the standard FID: needs torch-fidelity and the Inception weights)")
    parser.add_argument("--inception-weights", help="the Inception weights file, where it cannot be downloaded")
    return parser.parse_args(argv)


def _cell(value: float | int | None) -> str:
    """A table cell: 4 decimals for a distance or a share, a count as it is, a dash for none (the floor's
    code_purity: real digits have no codes; a digit an npz does not ask for, NaN in the JSON)."""
    if value is None or value != value:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def per_digit_rows(per_digit: dict[str, list[float]], floor: dict[str, list[float]] | None) -> list[str]:
    """The `--per-digit` table: a row per digit, a column per metric; beside the floor's, its intra-class FID and
    the digit's as a multiple of it (real 1s lie closer together than real 8s: the multiple says which digit the
    model draws worst)."""
    columns = dict(per_digit)
    if floor is not None and "intra_fid" in per_digit:
        columns["floor intra_fid"] = floor["intra_fid"]
        columns["x floor"] = ["–" if this != this else f"{this / real:.2f}x"  # NaN: a digit not asked for
                              for this, real in zip(per_digit["intra_fid"], floor["intra_fid"])]
    return table_rows("digit", columns)


def table_rows(key: str, columns: dict[str, list]) -> list[str]:
    """A row per digit (or code), numbered under `key`, a column per entry of `columns`."""
    cells = {name: [value if isinstance(value, str) else _cell(value) for value in values]
             for name, values in columns.items()}
    widths = {name: max(9, len(name)) for name in cells}
    rows = [f"  {key:<11} " + "  ".join(f"{name:>{widths[name]}}" for name in cells)]
    for number in range(len(next(iter(cells.values())))):
        rows.append(f"  {number:<11} " + "  ".join(f"{column[number]:>{widths[name]}}" for name, column in cells.items()))
    return rows


@report_user_errors
def main(argv: list[str] | None = None) -> dict[str, float]:
    args = _parse(argv)
    keep_freed_memory()  # the classifier's batches reuse their activations' memory, not fault it in anew
    metrics = evaluate(args.path, args.data, args.n, args.seed, args.real, args.kid_subset_size,
                       args.backbone, args.inception_weights, args.floor, args.per_digit)
    floor = metrics.pop("floor", None)
    per_digit, per_code = metrics.pop("per_digit", None), metrics.pop("per_code", None)
    print("real training digits (the floor)" if args.real else args.path)
    if floor is not None:
        print(f"  {'':<11} {'this':>8}  {'floor':>8}  x floor  (the floor: {floor['n']} real training digits)")
    ratios = times_floor(metrics, floor) if floor is not None else {}
    for name, value in metrics.items():
        row = f"  {name:<11} {_cell(value):>8}"
        if floor is not None:
            row += f"  {_cell(floor.get(name)):>8}" + (f"  {ratios[f'{name}_x_floor']:.2f}x" if name in X_FLOOR else "")
        print(row)
    if per_digit is not None:
        print("\n".join(per_digit_rows(per_digit, floor and floor["per_digit"])))
        metrics["per_digit"] = per_digit
    if per_code is not None:
        print("\n".join(table_rows("code", per_code)))
        metrics["per_code"] = per_code
    if floor is not None:
        metrics = {**metrics, **ratios, "floor": floor}
    print(json.dumps(metrics))
    return metrics


if __name__ == "__main__":
    main()
