"""A run's fixed-noise grids as a GIF: `python -m gan_digits.gif <run dir> [--out F] [--ms 250] [--scale 1]`."""

from pathlib import Path

from PIL import Image

from gan_digits.checks import UserInputError, check_int, check_output, report_user_errors
from gan_digits.command_line import KeyValueParser
from gan_digits.sampling import enlarged


def grids_of(run_dir: str | Path) -> list[Path]:
    """The run's `samples/step_<N>.png`, in step order (a samples folder itself is accepted too)."""
    run_dir = Path(run_dir)
    folder = run_dir / "samples" if (run_dir / "samples").is_dir() else run_dir
    frames = sorted(folder.glob("step_*.png"))
    if not frames:
        raise UserInputError(f"no sample grids in {folder}: expected a run dir of train.py, whose samples/ holds "
                             "step_<N>.png (callbacks.sample_grid draws them), or that samples/ folder")
    return frames


def _read_frame(path: Path) -> Image.Image:
    """One grid as a frame; one that is cut short (a partial copy) or no PNG named, where PIL raised."""
    try:
        return Image.open(path).convert("RGB")
    except OSError as err:
        raise UserInputError(f"cannot read the sample grid {path}: {err} (delete it to leave it out of the GIF)"
                             ) from err


def make_gif(run_dir: str | Path, out: str | Path | None = None, ms_per_frame: int = 250, scale: int = 1) -> Path:
    """One frame per saved grid, enlarged `scale` times, looping; the last frame held four times as long.
    Returns the path."""
    out = check_output(out, (".gif",)) if out else None
    check_int("ms", ms_per_frame, 1)  # PIL's OverflowError below 0
    frames = grids_of(run_dir)
    out = out or check_output(frames[0].parent / "training.gif", (".gif",))  # a read-only run
    images = [enlarged(_read_frame(frame), scale) for frame in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [4 * ms_per_frame]
    images[0].save(out, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return out


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = KeyValueParser(prog="python -m gan_digits.gif", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run dir (outputs/<date>/<time>) or its samples/ folder")
    parser.add_argument("--out", help="default: <run dir>/samples/training.gif")
    parser.add_argument("--ms", type=int, default=250, help="milliseconds per frame")
    parser.add_argument("--scale", type=int, default=1, help="each pixel drawn as a square this many pixels wide")
    args = parser.parse_args(argv)
    print(make_gif(args.run_dir, args.out, args.ms, args.scale))


if __name__ == "__main__":
    main()
