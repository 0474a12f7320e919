"""Playing with a trained generator: sample modes, the training GIF, plots and the studio page."""

import csv
import errno
import hashlib
import importlib
import os
import re
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from conftest import DATA, UNWRITABLE, compose_train, run_main, run_script
from headless_page import HeadlessPage, chromium
from gan_digits import modes, plot
from gan_digits import studio as studio_module
from gan_digits.checkpoint import build_generator, load_checkpoint
from gan_digits.checks import ConfigError, UserInputError
from gan_digits.compare import compare
from gan_digits.compare import main as compare_main
from gan_digits.gif import make_gif
from gan_digits.modes import arithmetic, grid, interpolate, noise, sample
from gan_digits.plot import find_runs, plot_runs, read_scalars
from gan_digits.sampling import draw, enlarged, grid_image
from gan_digits.studio import make_server, render_png
from gan_digits.training import train

CELL = 30  # a 28-px digit plus the grid's 2-px padding


def _size(columns, rows):
    return (columns * CELL + 2, rows * CELL + 2)


def _ckpt(trained, model):
    return trained[model] / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize(
    "model,mode,params,size",
    [
        ("dcgan", "grid", {"n": 20}, _size(5, 4)),
        ("cdcgan", "digits", {"digits": [1, 4, 9], "columns": 6}, _size(6, 3)),
        ("gan", "interpolate", {"steps": 7}, _size(7, 1)),
        ("cdcgan", "arithmetic", {"a": 3, "b": 5}, _size(3, 10)),  # a row per digit, 0..9 by default
        ("cdcgan", "interpolate", {"steps": 4, "digits": [3, 7]}, _size(4, 2)),
        ("dcgan", "compare", {"n": 16, "data_root": DATA}, _size(2 * 4 + 1, 4)),
        ("cdcgan", "compare", {"n": 20, "data_root": DATA}, _size(2 * 10 + 1, 2)),
        ("cdcgan", "grid", {"n": 20, "columns": 4}, _size(4, 5)),
        ("gan", "compare", {"n": 6, "columns": 2, "data_root": DATA}, _size(2 * 2 + 1, 3)),
    ],
)
def test_each_mode_writes_a_png_of_the_expected_grid(trained, tmp_path, model, mode, params, size):
    out = sample(_ckpt(trained, model), tmp_path / "out.png", mode=mode, **params)
    assert Image.open(out).size == size


def test_scale_draws_each_pixel_as_a_square_and_keeps_within_bounds(trained, tmp_path):
    one = np.asarray(Image.open(sample(_ckpt(trained, "cdcgan"), tmp_path / "one.png", n=20)))
    three = np.asarray(Image.open(sample(_ckpt(trained, "cdcgan"), tmp_path / "three.png", n=20, scale=3)))
    assert three.shape == (3 * one.shape[0], 3 * one.shape[1])
    np.testing.assert_array_equal(three, one.repeat(3, axis=0).repeat(3, axis=1))  # squares: no blur
    with pytest.raises(ConfigError, match=r"^scale=0 is not allowed: expected an integer from 1 to 16$"):
        sample(_ckpt(trained, "gan"), tmp_path / "x.png", scale=0)
    for key, value in (("scale", 2), ("columns", 4)):
        with pytest.raises(ConfigError, match=rf"^{key}={value} does not fit out='.*x.npz': a .npz holds the 28x28 "
                                              rf"digits themselves \({key} lays out a PNG\)$"):
            sample(_ckpt(trained, "gan"), tmp_path / "x.npz", **{key: value})
    wide = Image.new("L", (2_000, 100))  # 60,000 digits make a 7,352-px grid
    with pytest.raises(ConfigError, match=r"^scale=9 is not allowed here: it makes a 18,000 x 900 px image, over "
                                          r"16,384 px a side \(scale=8 fits\)$"):
        enlarged(wide, 9)
    assert not list(tmp_path.glob("x.*"))


def test_compare_comes_round_the_real_digits_again_when_asked_for_more(trained):
    """Asking for more digits than there are real ones failed for an unconditional model (a conditional one
    cycled already): the real side repeats them."""
    real = (torch.arange(3, dtype=torch.uint8).repeat_interleave(28 * 28).view(3, 28, 28), torch.arange(3))
    generator = build_generator(load_checkpoint(_ckpt(trained, "dcgan")))
    sheet = modes.compare(generator, real, n=5)  # each row: real digits, a gap, generated ones
    side = sheet.columns // 2
    real_side = sheet.images.view(-1, sheet.columns, 28 * 28)[:, :side].flatten(0, 1)[:5]
    shades = real_side.unique(dim=1).squeeze(1)  # one shade per real digit
    torch.testing.assert_close(shades, (torch.tensor([0, 1, 2, 0, 1]) / 127.5 - 1).float())


def test_npz_mode_and_default_names(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sample(_ckpt(trained, "gan"), mode="npz", n=5).name == "digits.npz"
    assert np.load(tmp_path / "digits.npz")["images"].shape == (5, 28, 28)
    assert sample(_ckpt(trained, "gan"), mode="interpolate").name == "interpolate.png"
    with pytest.raises(ConfigError, match=r"out='x.npz' does not fit mode=compare: expected a file ending in .png"):
        sample(_ckpt(trained, "gan"), "x.npz", mode="compare")
    with pytest.raises(ConfigError, match=rf"^out='{UNWRITABLE / 'x.png'}' is not allowed: its folder {UNWRITABLE} "
                                          r"cannot be written \("):
        sample(_ckpt(trained, "gan"), str(UNWRITABLE / "x.png"))  # was PIL's FileNotFoundError once the digits were drawn
    with pytest.raises(ConfigError, match=r"mode='movie' is not allowed: expected one of grid, digits"):
        sample(_ckpt(trained, "gan"), mode="movie")
    with pytest.raises(ConfigError, match="mode=digits needs a conditional model"):
        sample(_ckpt(trained, "gan"), mode="digits")


def test_interpolation_endpoints_are_the_two_seeds_samples(trained):
    generator = build_generator(load_checkpoint(_ckpt(trained, "dcgan")))
    walk = interpolate(generator, a=11, b=12, steps=5).images
    first, last = grid(generator, n=1, seed=11).images[0], grid(generator, n=1, seed=12).images[0]
    torch.testing.assert_close(walk[0], first, atol=1e-5, rtol=0)
    torch.testing.assert_close(walk[4], last, atol=1e-5, rtol=0)
    assert (walk[2] - first).abs().max() > 1e-3  # the middle is somewhere else (a tiny model varies little)


def test_walks_and_arithmetic_draw_a_row_per_digit_asked_on_the_same_noise(trained):
    """`mode=interpolate digits=[3,7]` drew the 3s alone (digits[0]), and the studio's walks the first digit picked:
    each digit asked is now a row, every row the same noise."""
    generator = build_generator(load_checkpoint(_ckpt(trained, "cdcgan")))
    walk = interpolate(generator, a=1, b=2, steps=4, digits=[3, 7])
    assert walk.columns == 4 and walk.labels.tolist() == [3] * 4 + [7] * 4
    for row, digit in enumerate((3, 7)):
        alone = interpolate(generator, a=1, b=2, steps=4, digits=[digit]).images
        torch.testing.assert_close(walk.images[4 * row : 4 * (row + 1)], alone, atol=1e-5, rtol=0)
    assert (walk.images[:4] - walk.images[4:]).abs().max() > 1e-3  # a 3 and a 7
    every = arithmetic(generator, a=1, b=2)  # by default a row per digit, 0..9
    assert every.columns == 3 and every.labels.tolist() == [d for d in range(10) for _ in range(3)]
    z = noise(1, 1, 100), noise(2, 1, 100)
    expected = draw(generator, torch.cat([*z, z[0] + z[1]]).repeat(10, 1), every.labels)
    torch.testing.assert_close(every.images, expected, atol=1e-5, rtol=0)


def test_a_walk_saved_as_a_gif_morphs_every_digit_asked_there_and_back(trained, tmp_path):
    """A walk was a PNG sheet alone: the classic GAN demo, digits morphing, took a script of one's own."""
    ckpt = _ckpt(trained, "cdcgan")
    out = sample(ckpt, tmp_path / "walk.gif", mode="interpolate", digits=[3, 7], steps=5, a=1, b=2)
    rows = interpolate(build_generator(load_checkpoint(ckpt)), a=1, b=2, steps=5, digits=[3, 7]).images.view(2, 5, 1, 28, 28)
    expected = [grid_image(rows[:, t], 2)[0].numpy() for t in (0, 1, 2, 3, 4, 3, 2, 1)]  # there and back, looping
    expected = [frame for k, frame in enumerate(expected) if k == 0 or not np.array_equal(frame, expected[k - 1])]
    gif = Image.open(out)  # (a frame equal to the one before is merged into it: none in a walk of real digits)
    assert gif.size == _size(2, 1) and gif.info["loop"] == 0 and gif.n_frames == len(expected)
    for frame, pixels in enumerate(expected):
        gif.seek(frame)
        np.testing.assert_array_equal(np.asarray(gif.convert("L")), pixels)
    with pytest.raises(ConfigError, match=r"^out='.*grid.gif' does not fit mode=grid: expected a file ending in "
                                          r"\.png or \.npz, or a folder ending in / \(a PNG per digit\)$"):
        sample(ckpt, tmp_path / "grid.gif")


def test_arithmetic_sub_of_a_seed_with_itself_is_the_zero_noise_sample(trained):
    generator = build_generator(load_checkpoint(_ckpt(trained, "dcgan")))
    images = arithmetic(generator, a=4, b=4, op="sub").images
    torch.testing.assert_close(images[2], draw(generator, torch.zeros(1, 100), None)[0], atol=1e-5, rtol=0)
    # The same seed twice: equal up to float rounding (a CPU's GEMM may round each row of a batch its own way).
    torch.testing.assert_close(images[0], images[1], atol=1e-5, rtol=0)
    assert (images[2] - images[0]).abs().max() > 1e-3  # the zero-noise digit is another one


def read_only(*args, **kwargs):
    """tempfile.NamedTemporaryFile in a folder mounted read-only."""
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def test_gif_has_one_frame_per_grid(trained, tmp_path):
    grids = sorted((trained["dcgan"] / "samples").glob("step_*.png"))
    out = make_gif(trained["dcgan"], tmp_path / "t.gif")
    assert Image.open(out).n_frames == len(grids) == 2
    width, height = Image.open(grids[0]).size
    assert Image.open(make_gif(trained["dcgan"], tmp_path / "big.gif", scale=2)).size == (2 * width, 2 * height)
    assert (trained["dcgan"] / "samples" / "training.gif").is_file()  # written when training ended
    with pytest.raises(UserInputError, match=r"^no sample grids in .*: expected a run dir of train.py, whose samples/ holds "
                                             r"step_<N>.png \(callbacks.sample_grid draws them\), or that samples/ folder$"):
        make_gif(tmp_path)  # a run without grids (~callbacks.sample_grid) had the message say train.py writes them there
    with pytest.raises(ConfigError, match=r"^out='.*nowhere/t.gif' is not allowed: its folder .*nowhere does not exist"):
        make_gif(trained["dcgan"], tmp_path / "nowhere" / "t.gif")  # was a FileNotFoundError once the frames were read
    with pytest.raises(ConfigError, match=r"^out='.*t.png' is not allowed: expected a file ending in one of .gif$"):
        make_gif(trained["dcgan"], tmp_path / "t.png")
    # A folder no file can be written in (UNWRITABLE), a folder where the file should be, and the default out of a run
    # that cannot be written (read-only, as root cannot make one here): were OSError tracebacks once the frames were read.
    with pytest.raises(ConfigError, match=rf"^out='{UNWRITABLE / 't.gif'}' is not allowed: its folder {UNWRITABLE} "
                                          r"cannot be written \("):
        make_gif(trained["dcgan"], str(UNWRITABLE / "t.gif"))
    (tmp_path / "dir.gif").mkdir()
    with pytest.raises(ConfigError, match=r"^out='.*dir.gif' is not allowed: it is a folder$"):
        make_gif(trained["dcgan"], tmp_path / "dir.gif")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gan_digits.checks.tempfile.NamedTemporaryFile", read_only)
        patch.setattr("gan_digits.checks.os.access", lambda *args: False)  # the GIF there too: not to be overwritten
        with pytest.raises(ConfigError, match=rf"^out='{trained['dcgan']}/samples/training.gif' is not allowed: its folder "
                                              r".*samples cannot be written \(Read-only file system\)$"):
            make_gif(trained["dcgan"])
    with pytest.raises(ConfigError, match=r"^ms=-5 is not allowed: expected an integer >= 1$"):  # was PIL's OverflowError
        make_gif(trained["dcgan"], tmp_path / "t.gif", ms_per_frame=-5)
    cut = tmp_path / "cut" / "samples"
    cut.mkdir(parents=True)
    for png in grids:
        (cut / png.name).write_bytes(png.read_bytes()[:60 if png == grids[-1] else None])  # the last one cut short
    with pytest.raises(UserInputError, match=rf"^cannot read the sample grid {cut / grids[-1].name}: image file is "
                                             r"truncated \(delete it to leave it out of the GIF\)$"):  # was OSError's traceback
        make_gif(cut.parent)


def test_plot_reads_real_runs_and_overlays_several(trained, tmp_path, capsys):
    one = plot_runs([trained["gan"]], tmp_path / "one.png")
    several = plot_runs([trained["gan"], trained["dcgan"]], tmp_path / "two.png")
    assert Image.open(one).size[0] > 800 and Image.open(several).size[0] == Image.open(one).size[0]
    assert Image.open(several).size[1] > Image.open(one).size[1]  # the runs' legend below the panels
    result = run_main(plot.main, capsys, str(tmp_path))
    assert result.returncode == 2 and f"{tmp_path} is not a run dir written by train.py" in result.stderr
    with pytest.raises(ConfigError, match=r"^out='.*nowhere/c.png' is not allowed: its folder .*nowhere does not exist"):
        plot_runs([trained["gan"]], tmp_path / "nowhere" / "c.png")  # was a FileNotFoundError from savefig
    with pytest.raises(ConfigError, match=r"^out='.*c.doc' is not allowed: expected a file ending in one of .*\.png"):
        plot_runs([trained["gan"]], tmp_path / "c.doc")
    with pytest.raises(ConfigError, match=rf"^out='{UNWRITABLE / 'c.png'}' is not allowed: its folder {UNWRITABLE} "
                                          r"cannot be written \("):
        plot_runs([trained["gan"]], str(UNWRITABLE / "c.png"))  # was savefig's traceback


@pytest.fixture
def sweep(trained, tmp_path):
    """A Hydra sweep dir as `-m` leaves it: jobs 0 and 1 (the tiny gan and cdcgan runs), multirun.yaml."""
    sweep = tmp_path / "sweep"
    for job, (model, seed) in enumerate([("gan", 1), ("cdcgan", 2)]):
        shutil.copytree(trained[model] / "tb", sweep / str(job) / "tb")
        (sweep / str(job) / ".hydra").mkdir()
        (sweep / str(job) / ".hydra" / "overrides.yaml").write_text(f"- model={model}\n- seed={seed}\n- data.root=x\n")
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def test_plot_takes_a_sweep_dir_or_its_glob(sweep, tmp_path):
    for paths in ([sweep], sorted(sweep.iterdir())):  # `multirun/<date>/<time>/*` matches multirun.yaml too
        assert Image.open(plot_runs(paths, tmp_path / "sweep.png")).size[0] > 800


def test_plot_of_several_runs_gives_each_a_colour_named_by_what_sets_it_apart(sweep, tmp_path, monkeypatch):
    """Overlaid runs were named by their folders alone (`0 val/fid`, `1 val/fid`: a sweep's job numbers), in a
    legend per panel, and one run's curves took other colours in each panel."""
    figures = []
    monkeypatch.setattr(plot.plt, "close", figures.append)
    plot_runs([sweep], tmp_path / "sweep.png")
    figure = figures[0]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["0: model=gan seed=1", "1: model=cdcgan seed=2"]
    for ax, tags in zip(figure.axes, plot.PANELS.values()):
        logged = [tag for tag in tags if tag in read_scalars(sweep / "0")]
        assert logged and [line.get_color() for line in ax.lines] == ["C0"] * len(logged) + ["C1"] * len(logged)
        assert [text.get_text() for text in ax.get_legend().get_texts()] == logged  # the tags, once each
    # Runs of one name (the same time on two days) are told apart by the path's end that differs.
    runs = [tmp_path / "outputs" / day / "10-00-00" for day in ("2026-12-01", "2026-12-02")]
    assert plot.run_labels(runs) == {runs[0]: "2026-12-01/10-00-00", runs[1]: "2026-12-02/10-00-00"}


def test_plot_and_compare_find_the_runs_below_outputs_and_multirun(sweep, trained, tmp_path):
    """`compare outputs` (runs under their dates) and `compare multirun` (under dates and sweeps) were refused."""
    outputs = tmp_path / "outputs"
    for day, model in (("2026-12-01", "dcgan"), ("2026-12-02", "gan")):
        shutil.copytree(trained[model], outputs / day / "10-00-00")
    (outputs / "2026-12-02" / "notes").mkdir()  # not a run: passed over
    assert find_runs([outputs]) == [outputs / "2026-12-01" / "10-00-00", outputs / "2026-12-02" / "10-00-00"]
    multirun = tmp_path / "multirun"
    shutil.move(sweep, multirun / "2026-12-03" / "09-00-00")
    assert find_runs([multirun]) == [multirun / "2026-12-03" / "09-00-00" / job for job in ("0", "1")]
    (tmp_path / "empty" / "a" / "b").mkdir(parents=True)
    with pytest.raises(UserInputError, match=r"empty is not a run dir written by train.py \(no tb/ events\) nor a "
                                             r"folder with some below it \(a sweep dir, outputs/, multirun/\)$"):
        find_runs([tmp_path / "empty"])
    # A job folder named by its overrides (`hydra.sweep.subdir=${hydra.job.override_dirname}`), nested at the / of a
    # path among them: "a sweep dir without a run yet", at 3 levels' look.
    nested = tmp_path / "by_overrides" / "data.root=" / "work" / "shared" / "data,model=gan"  # data.root=/work/shared/data
    shutil.copytree(trained["gan"], nested)
    (tmp_path / "by_overrides" / "multirun.yaml").write_text("hydra: {}\n")
    assert find_runs([tmp_path / "by_overrides"]) == [nested]
    (tmp_path / "refused").mkdir()  # a sweep whose every job was refused: Hydra's multirun.yaml alone
    (tmp_path / "refused" / "multirun.yaml").write_text("hydra: {}\n")
    for started in (False, True):  # plot's and compare's way
        with pytest.raises(UserInputError, match=r"refused is a sweep dir without a run yet: its jobs write their runs "
                                                 r"there as they start \(<job number>/\), .* leaves none$"):
            find_runs([tmp_path / "refused"], started=started)


def test_compare_ranks_runs_by_best_fid_and_shows_what_differs(sweep, capsys):
    table = compare([sweep]).splitlines()
    assert table == compare(sorted(sweep.iterdir())).splitlines()
    # The metrics logged: no InfoGAN code_purity.
    assert table[0] == ("| run | overrides | step | best val/fid (step) | last val/fid | last val/intra_fid "
                        "| last val/label_acc | last val/precision | last val/recall | last val/modes |")
    rows = [line.strip("| ").split(" | ") for line in table[2:]]
    best = {job: min((value, step) for step, value in read_scalars(sweep / job)["val/fid"]) for job in ("0", "1")}
    ranked = sorted(best, key=lambda job: best[job][0])
    assert [row[0] for row in rows] == [str(sweep / job) for job in ranked]
    for row, job in zip(rows, ranked):
        assert row[1] == {"0": "model=gan seed=1", "1": "model=cdcgan seed=2"}[job]  # data.root=x is shared
        assert row[2] == "8" and row[3] == f"{best[job][0]:.4g} ({best[job][1]})"
    assert rows[ranked.index("1")][6] != "–" and rows[ranked.index("0")][6] == "–"  # label_acc: cdcgan only
    # A job that failed before training (only Hydra's .hydra) is listed last, as logging nothing.
    (sweep / "2" / ".hydra").mkdir(parents=True)
    (sweep / "2" / ".hydra" / "overrides.yaml").write_text("- model=gan\n- seed=3\n- data.root=x\n")
    assert compare([sweep]).splitlines()[-1] == f"| {sweep / '2'} | model=gan seed=3 | none logged |{' – |' * 7}"
    result = run_main(compare_main, capsys, str(sweep / "0" / "tb" / "missing"))
    assert result.returncode == 2 and result.stderr == \
        f"error: {sweep / '0' / 'tb' / 'missing'} does not exist: expected a run dir written by train.py or a sweep dir\n"


def test_compare_writes_a_csv_with_a_column_per_override_and_numbers_as_numbers(sweep, tmp_path, capsys):
    _job(sweep, "2", ["model=gan", "seed=3", "data.root=x", "model.ema_decay=0.5"])  # failed before training
    out = tmp_path / "runs.csv"
    result = run_script("-m", "gan_digits.compare", str(sweep), "--out", str(out))
    assert result.returncode == 0 and result.stdout == f"{out}\n", result.stderr
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["run", "model", "seed", "model.ema_decay", "step", "best val/fid", "best val/fid step",
                             "last val/fid", "last val/intra_fid", "last val/label_acc", "last val/precision",
                             "last val/recall", "last val/modes"]
    table = compare([sweep]).splitlines()[2:]  # the same runs in the same order, the table's numbers rounded
    assert [row["run"] for row in rows] == [line.strip("| ").split(" | ")[0] for line in table]
    for row in rows[:2]:
        scalars = read_scalars(Path(row["run"]))
        best = min((value, step) for step, value in scalars["val/fid"])
        # As TensorBoard keeps them, float32, in their shortest digits (0.1, not 0.10000000149011612)
        assert (np.float32(row["best val/fid"]), int(row["best val/fid step"])) == best
        assert np.float32(row["last val/fid"]) == scalars["val/fid"][-1][1] and int(row["step"]) == 8
        logged = [row[key] for key in ("best val/fid", "last val/fid", "last val/label_acc") if row[key]]
        assert logged and all(cell == str(np.float32(cell)) for cell in logged), logged
        assert row["model.ema_decay"] == ""  # the config's own value
    assert {row["model"]: row["seed"] for row in rows[:2]} == {"gan": "1", "cdcgan": "2"}
    assert rows[2] == {**dict.fromkeys(rows[2], ""), "run": str(sweep / "2"), "model": "gan", "seed": "3",
                       "model.ema_decay": "0.5"}  # a job that logged nothing: empty cells
    refusals = [
        ([str(out.with_suffix(".txt"))], "out='.*runs.txt' is not allowed: expected a file ending in one of .csv"),
        ([str(out), "--mean-over", "seed"], r"--mean-over seed is not allowed with --out: the .csv holds a row per run, "
                                            r"to group as you like \(the table is for reading\)"),
    ]
    for args, said in refusals:
        result = run_main(compare_main, capsys, str(sweep), "--out", *args)
        assert result.returncode == 2 and re.fullmatch(f"error: {said}\n", result.stderr), result.stderr


def test_compare_names_the_code_of_runs_trained_by_different_code(sweep):
    """Two runs of one recipe trained by two commits read as one code's: each run's HPARAMS now say which."""
    assert "| code |" not in compare([sweep])  # both trained by this code: no column
    hparams = sweep / "1" / "tb" / "hparams.yaml"
    written = yaml.safe_load(hparams.read_text())
    hparams.write_text(yaml.safe_dump({**written, "code/gan_digits": "0123456789ab+changes"}))
    table = compare([sweep]).splitlines()
    assert table[0].startswith("| run | overrides | code | step | best val/fid (step) |")
    codes = {cells[0]: cells[2] for cells in (line.strip("| ").split(" | ") for line in table[2:])}
    assert codes == {str(sweep / "0"): written["code/gan_digits"], str(sweep / "1"): "0123456789ab+changes"}
    (sweep / "0" / "tb" / "hparams.yaml").unlink()  # a run from before the code was kept: nothing to tell apart
    assert "| code |" not in compare([sweep])


def _job(sweep: Path, job: str, overrides: list[str], fids: list[float] = ()) -> None:
    """A sweep's job folder as train.py leaves it: its overrides, and a val/fid a step when it trained."""
    (sweep / job / ".hydra").mkdir(parents=True)
    (sweep / job / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides))
    if fids:
        with SummaryWriter(sweep / job / "tb") as writer:
            for step, fid in enumerate(fids, 1):
                writer.add_scalar("val/fid", fid, step)


@pytest.fixture
def seed_sweep(tmp_path):
    """A sweep of two recipes over seeds, as `-m model=gan,dcgan seed=1,2` leaves it, with val/fid alone."""
    sweep = tmp_path / "sweep"
    _job(sweep, "0", ["model=gan", "seed=1"], [9.0, 5.0])
    _job(sweep, "1", ["model=gan", "seed=2"], [4.0, 6.0, 7.0])  # one step further
    _job(sweep, "2", ["seed=1", "model=dcgan"], [3.0])  # the same recipe, its overrides in another order
    _job(sweep, "3", ["model=dcgan", "seed=2"])  # failed before training
    return sweep


def test_compare_says_the_step_a_run_trained_to_not_its_last_logged_one(trained, tmp_path, capsys):
    # A run stopped inside an epoch (max_steps, max_time, a signal) logs nothing at its last step: compare said the
    # step of its latest scalar (a tiny run to step 40 read 32, its last validation's).
    sweep = tmp_path / "sweep"
    _job(sweep, "0", ["seed=1"], [9.0, 5.0])  # its events end at step 2
    _job(sweep, "1", ["seed=2"], [4.0])
    for job, ckpt in (("0", trained["gan"] / "checkpoints" / "last.ckpt"), ("1", None)):
        (sweep / job / "checkpoints").mkdir()
        if ckpt:
            shutil.copy(ckpt, sweep / job / "checkpoints")  # saved at step 8
        else:
            (sweep / job / "checkpoints" / "last.ckpt").write_bytes(b"cut short")  # unreadable: the events' step
    rows = [line.strip("| ").split(" | ") for line in compare([sweep]).splitlines()[2:]]
    assert {cells[0]: cells[2] for cells in rows} == {str(sweep / "0"): "8", str(sweep / "1"): "1"}
    assert [cells[2] for cells in (line.strip("| ").split(" | ") for line in
                                   compare([sweep], mean_over="seed").splitlines()[2:])] == ["1–8"]
    out = tmp_path / "runs.csv"
    assert run_main(compare_main, capsys, str(sweep), "--out", str(out)).returncode == 0
    with out.open(newline="") as file:
        assert {row["run"]: row["step"] for row in csv.DictReader(file)} == {str(sweep / "0"): "8",
                                                                            str(sweep / "1"): "1"}


def test_compare_mean_over_seeds_makes_one_row_of_each_recipe(seed_sweep, capsys):
    """A recipe's runs over seeds are one row: each metric's mean ± standard deviation, the lowest mean first; a job
    that failed before training is counted, in no mean."""
    sweep = seed_sweep
    table = compare([sweep], "seed").splitlines()
    assert table[0] == "| overrides | runs | step | best val/fid | last val/fid |"  # the metrics logged: val/fid alone
    assert [line.strip("| ").split(" | ") for line in table[2:]] == [
        ["model=dcgan", "2 (1 logged none)", "1", "3", "3"],
        ["model=gan", "2", "2–3", "4.5 ± 0.71", "6 ± 1.4"]]  # bests 5 and 4, lasts 5 and 7
    result = run_main(compare_main, capsys, str(sweep), "mean_over=seed")
    assert result.returncode == 0 and result.stdout.splitlines() == table
    result = run_main(compare_main, capsys, str(sweep), "--mean-over", "seeds")
    assert result.returncode == 2 and result.stderr == ("error: --mean-over seeds is not allowed: no two of these "
                                                        "runs differ in seeds; they differ in model, seed\n")
    # gan's two seeds trained by two commits: averaged without a word, as if of one code.
    for job, code in (("0", "0123456789ab"), ("1", "0123456789ab+changes"), ("2", "0123456789ab")):
        (sweep / job / "tb" / "hparams.yaml").write_text(yaml.safe_dump({"code/gan_digits": code}))
    assert compare([sweep], "seed").splitlines() == table + [
        "note: the runs of model=gan were trained by 2 versions of the code (0123456789ab, 0123456789ab+changes): "
        "their means mix them (without --mean-over the table says which run is which)"]


def test_runs_match_an_override_however_it_is_spelt(tmp_path):
    """A sweep's jobs record `=False` and `=0.0001` (Hydra's sweeper writes every value back) where a run started
    alone says `=false` and `=1e-4`: compare listed them as differing, and --mean-over kept them apart."""
    _job(tmp_path, "alone", ["model=gan", "seed=1", "trainer.enable_progress_bar=false", "model.g_optimizer.lr=1e-4"],
         [5.0])
    _job(tmp_path, "0", ["model=gan", "seed=2", "trainer.enable_progress_bar=False", "model.g_optimizer.lr=0.0001"],
         [7.0])
    _job(tmp_path, "1", ["model=gan", "seed=3", "trainer.enable_progress_bar=False", "model.g_optimizer.lr=0.0002"],
         [6.5])
    rows = [line.strip("| ").split(" | ")[:2] for line in compare([tmp_path]).splitlines()[2:]]
    assert rows == [[str(tmp_path / "alone"), "seed=1 model.g_optimizer.lr=1e-4"],
                    [str(tmp_path / "1"), "seed=3 model.g_optimizer.lr=0.0002"],
                    [str(tmp_path / "0"), "seed=2 model.g_optimizer.lr=0.0001"]]
    means = [line.strip("| ").split(" | ")[:2] for line in compare([tmp_path], "seed").splitlines()[2:]]
    assert means == [["model.g_optimizer.lr=1e-4", "2"], ["model.g_optimizer.lr=0.0002", "1"]]


def test_plot_mean_over_seeds_draws_each_recipes_mean_in_a_band_of_its_spread(seed_sweep, tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(plot.plt, "close", figures.append)
    plot_runs([seed_sweep], tmp_path / "seeds.png", mean_over="seed")
    figure = figures[0]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == [
        "model=gan: mean ± sd of 2 runs", "model=dcgan: mean ± sd of 1 run"]
    fid = figure.axes[list(plot.PANELS).index("FID (lower is better)")]
    assert [list(line.get_xdata()) for line in fid.lines] == [[1, 2], [1]]  # the steps both gan runs logged
    assert list(fid.lines[0].get_ydata()) == [6.5, 5.5]  # the means of 9 and 4, then of 5 and 6
    band = fid.collections[0].get_paths()[0].vertices[:, 1]  # 6.5 ± 3.54 at step 1, 5.5 ± 0.71 at step 2
    assert min(band) == pytest.approx(6.5 - 5 / 2**0.5) and max(band) == pytest.approx(6.5 + 5 / 2**0.5)
    result = run_script("-m", "gan_digits.plot", str(seed_sweep), "--mean-over", "model", "--out", str(tmp_path / "m.png"))
    assert result.returncode == 0 and result.stdout == f"{tmp_path / 'm.png'}\n"  # a curve per seed, over models


def test_compare_and_plot_find_the_events_of_a_renamed_logger_and_its_versions(tmp_path):
    """`logger.tensorboard.name=logs version=null`: events in logs/version_0, then version_1 once resumed. compare
    read tb/ alone ("none logged"), and plot took logs/ for a run of its own."""
    logger = ["logger.tensorboard.name=logs", "logger.tensorboard.version=null", "trainer.log_every_n_steps=1"]
    run = tmp_path / "outputs" / "day" / "run"
    train(compose_train("gan", logger, output_dir=run))  # 1 epoch of 4 batches: steps 2..8
    train(compose_train("gan", [*logger, "ckpt_path=last", "trainer.max_epochs=2", "trainer.max_steps=16"], output_dir=run))
    (run / ".hydra").mkdir()  # as train.py writes it
    assert [path.relative_to(run) for path in plot.event_folders(run)] == [Path("logs/version_0"), Path("logs/version_1")]
    assert find_runs([tmp_path / "outputs"]) == [run]
    scalars = read_scalars(run)
    assert [step for step, _ in scalars["val/fid"]] == [8, 16]  # both versions, one curve
    assert [step for step, _ in scalars["train/g_loss"]] == list(range(2, 17, 2))
    assert compare([tmp_path / "outputs"]).splitlines()[-1].split(" | ")[2] == "16"


def test_plot_says_in_an_empty_panel_why_it_is_empty(tmp_path, monkeypatch):
    """A run of fewer batches than trainer.log_every_n_steps (a smoke run at the default 50) drew two blank panels."""
    train(compose_train("gan", ["trainer.log_every_n_steps=50"], output_dir=tmp_path))  # 4 batches, 1 validation
    figures = []
    monkeypatch.setattr(plot.plt, "close", figures.append)
    plot_runs([tmp_path])
    said = [[text.get_text() for text in ax.texts] for ax in figures[0].axes]
    assert said == [["none logged:\ntrain/* are written every\ntrainer.log_every_n_steps batches"]] * 2 + [[]] * 2
    assert [line.get_label() for line in figures[0].axes[2].lines] == ["val/fid"]
    assert [line.get_label() for line in figures[0].axes[3].lines] == ["val/precision", "val/recall"]
    assert all(0 <= value <= 1 for line in figures[0].axes[3].lines for value in line.get_ydata())


def test_plot_says_a_run_of_older_code_did_not_log_precision_and_recall(seed_sweep, tmp_path, monkeypatch):
    """Runs trained before val/precision and val/recall were logged: their panel is empty, and not because no
    validation ran (its val/fid did)."""
    figures = []
    monkeypatch.setattr(plot.plt, "close", figures.append)
    plot_runs([seed_sweep], tmp_path / "old.png")
    panel = figures[0].axes[list(plot.PANELS).index("precision, recall (higher is better)")]
    assert not panel.lines and [text.get_text() for text in panel.texts] == ["none logged:\nthese runs predate them"]


def test_plot_leaves_out_a_run_that_logged_nothing_and_names_it(sweep, tmp_path, capsys):
    """A run shorter than trainer.log_every_n_steps batches, without a validation, logs no scalar: plot stopped
    at it ("expected a run dir written by train.py", which it was) and drew none of the others."""
    (sweep / "2" / "tb").mkdir(parents=True)
    assert Image.open(plot_runs([sweep], tmp_path / "sweep.png")).size[0] > 800
    assert capsys.readouterr().err == (f"no scalars logged in {sweep / '2'}: train/* are written every "
                                       "trainer.log_every_n_steps batches, val/* at each validation; plotting the others\n")
    with pytest.raises(UserInputError, match=rf"^no scalars logged in {re.escape(str(sweep / '2'))}: train/\* are"):
        plot_runs([sweep / "2"], tmp_path / "one.png")


@pytest.fixture(scope="module")
def studio(trained):
    server = make_server(build_generator(load_checkpoint(_ckpt(trained, "cdcgan"))), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_studio_serves_its_page_and_images(studio, tmp_path):
    status, kind, body = _get(studio + "/")
    assert status == 200 and kind.startswith("text/html") and b'id="picture"' in body
    status, kind, body = _get(studio + "/image.png?mode=digits&digits=2,5&columns=4&seed=9")
    assert status == 200 and kind == "image/png"
    (tmp_path / "s.png").write_bytes(body)
    assert Image.open(tmp_path / "s.png").size == _size(4, 2)


@pytest.mark.parametrize(
    "query,message",
    [
        ("mode=fly", "mode='fly' is not allowed"),
        ("n=0", "n='0' is not allowed: expected an integer from 1 to 256"),
        ("n=100000", "expected an integer from 1 to 256"),
        ("seed=abc", "seed='abc' is not allowed"),
        ("mode=digits&digits=3,x", "digits='3,x' is not allowed"),
        ("mode=digits&digits=12", "digits=12 is not allowed: expected an integer from 0 to 9"),
        ("codes=3,x", "codes='3,x' is not allowed: expected codes such as 3,7 separated by commas"),
        ("codes=1", "codes=[1] given, but this checkpoint's DCGANGenerator has no codes: ask for its digits"),
        ("mode=arithmetic&op=mul", "op='mul' is not allowed: expected one of add, sub"),
        ("colour=red", "unknown parameter 'colour'"),
    ],
)
def test_studio_rejects_bad_requests_and_keeps_serving(studio, query, message):
    status, kind, body = _get(f"{studio}/image.png?{query}")
    assert status == 400 and message in body.decode()
    assert _get(studio + "/image.png?n=1")[0] == 200
    assert _get(studio + "/nowhere")[0] == 404


def test_studio_refuses_to_serve_beyond_this_machine(trained):
    with pytest.raises(ConfigError, match=r"host='0.0.0.0' is not allowed: the studio serves this machine only"):
        make_server(build_generator(load_checkpoint(_ckpt(trained, "gan"))), host="0.0.0.0", port=0)


def test_studio_names_a_port_it_cannot_take(trained, studio):
    generator = build_generator(load_checkpoint(_ckpt(trained, "gan")))
    taken = int(studio.rsplit(":", 1)[1])  # the running studio's
    with pytest.raises(ConfigError, match=rf"port={taken} is not allowed here: Address already in use. Choose another"):
        make_server(generator, port=taken)  # was OSError's traceback
    with pytest.raises(ConfigError, match=r"port=70000 is not allowed: expected an integer from 0 to 65535"):
        make_server(generator, port=70000)  # was OverflowError's


def test_studio_says_nothing_of_a_page_that_left_before_its_image(trained, capsys):
    """A tab closed or reloaded while its image was drawn printed BrokenPipeError's traceback."""
    server = make_server(build_generator(load_checkpoint(_ckpt(trained, "gan"))), port=0)
    ours, theirs = socket.socketpair()
    theirs.sendall(b"GET /image.png?n=4 HTTP/1.1\r\n\r\n")
    theirs.close()  # gone before the answer: writing it fails
    try:
        server.process_request_thread(ours, ("127.0.0.1", 0))  # what a request's thread runs, here in this one
    finally:
        server.server_close()
    assert capsys.readouterr().err == ""


def test_studio_page_draws_a_drag_at_its_end_and_says_when_the_studio_is_gone(trained, tmp_path, monkeypatch):
    """Each step of a slider was a request, drawn in whatever order the studio's threads took its lock (a drag
    over 30 seeds: 30 images, seed 6 before 4), so the page could end on an earlier seed's; every control showed
    in every mode; and once the studio stopped, the page changed no more and said nothing."""
    generator = build_generator(load_checkpoint(_ckpt(trained, "gan")))
    asked = []  # (mode, params) of every image drawn
    monkeypatch.setattr(studio_module, "render_png", lambda *args: asked.append(args[1:]) or render_png(*args))
    server = make_server(generator, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    last = hashlib.sha256(render_png(generator, "grid", {"seed": 30, "n": 100})).hexdigest()
    shown = """(async () => {
        const image = await (await fetch(document.getElementById("picture").src)).arrayBuffer();
        return [...new Uint8Array(await crypto.subtle.digest("SHA-256", image))]
            .map(byte => byte.toString(16).padStart(2, "0")).join("");
    })()"""
    try:
        with HeadlessPage(f"http://127.0.0.1:{server.server_address[1]}/", tmp_path / "profile") as page:
            assert page.wait_for('document.getElementById("picture")?.src.startsWith("blob:")')
            assert asked == [("grid", {"seed": 0, "n": 30})]  # the page's first image
            page.js("""(() => {
                const seed = document.getElementById("seed");
                document.getElementById("n").value = 100;
                for (let value = 1; value <= 30; value++) {  // one task: a drag's input events, faster than any answer
                    seed.value = value;
                    seed.dispatchEvent(new Event("input", {bubbles: true}));
                }
            })()""")
            assert page.wait_for(f"(await {shown}) === {last!r}"), f"the page never showed seed 30 (asked: {asked})"
            assert [params["seed"] for _, params in asked] == [0, 1, 30]
            # Another mode shows the controls it reads, and asks with those alone.
            page.js('document.querySelector("input[value=interpolate]").click()')
            assert page.wait_for('!drawing')
            assert asked[-1] == ("interpolate", {"a": 0, "b": 1, "steps": 10}) and len(asked) == 4
            visible = ('Array.from(document.querySelectorAll("[data-modes]:not(.hidden)"), '
                       'label => label.textContent.replace(/\\s+/g, " ").trim())')
            assert page.js(visible) == ["seed a 0", "seed b 1", "walk steps 10"]
            server.shutdown()
            server.server_close()
            page.js('document.getElementById("seed").dispatchEvent(new Event("input", {bubbles: true}))')
            assert page.wait_for('document.getElementById("error").textContent !== ""')
            assert page.js('document.getElementById("error").textContent') == \
                "no answer from the studio: is it still running?"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("model,asks,said", [("infogan", "codes", "4 InfoGAN codes"), ("cdcgan", "digits", "conditional"),
                                              ("dcgan", "codes", " clusters")])
def test_studio_page_offers_what_the_model_can_be_asked_for(trained, infogan_ckpt, tmp_path, monkeypatch, model, asks,
                                                           said):
    """A model trained with InfoGAN codes was offered nothing to pick (the page knew conditional models alone),
    and the studio refused `codes`; its page now offers the model's codes as a conditional model's its digits; a
    self-conditioned model's codes are the clusters it draws (an empty one never offered)."""
    generator = build_generator(load_checkpoint(infogan_ckpt if model == "infogan" else _ckpt(trained, model)))
    choices = list(range(10)) if asks == "digits" else generator.drawn_codes()
    first = [c for c in (3, 7) if c in choices]  # the page's own pick, of those the model has
    asked = []  # (mode, params) of every image drawn
    monkeypatch.setattr(studio_module, "render_png", lambda *args: asked.append(args[1:]) or render_png(*args))
    server = make_server(generator, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    studio = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        two = choices[1:3]
        status, _, body = _get(f"{studio}/image.png?mode=digits&{asks}={two[0]},{two[1]}&columns=4")
        assert status == 200 and body == render_png(generator, "digits", {asks: two, "columns": 4})
        with HeadlessPage(studio + "/", tmp_path / "profile") as page:
            assert page.wait_for('document.getElementById("picture")?.src.startsWith("blob:")')
            assert asked[-1] == ("grid", {"seed": 0, "n": 30, asks: first})  # 3 and 7 picked, of those it has
            assert page.js('Array.from(document.querySelectorAll("#digits button"), b => +b.textContent)') == choices
            assert said in page.js('document.getElementById("model").textContent')
            assert page.js('document.getElementById("asked-legend").textContent').startswith(asks.capitalize())
            page.js('document.querySelector("input[value=digits]").click()')
            page.js('document.querySelector("#digits button").click()')  # the first one picked too
            assert page.wait_for('!drawing')
            assert asked[-1] == ("digits", {"seed": 0, asks: [choices[0], *first]})
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("argv,message", [
    (["ckpt=x", "prot=8000"], "prot=8000 is not allowed: python -m gan_digits.studio has no setting prot (did you mean port?)"),
    (["ckpt=x", "port=abc"], "port='abc' is not allowed: expected an integer"),
    (["ckpt=x", "x.ckpt"], "x.ckpt is not allowed: expected key=value settings of ckpt, port, host"),
    ([], "ckpt must be set: a checkpoint written by train.py (python -m gan_digits.studio ckpt=<ckpt>)"),  # was argparse's
])
def test_studio_names_a_bad_word_as_typed(argv, message, capsys):
    """argparse printed its usage, then `unrecognized arguments: --prot=8000`: a spelling the user never typed."""
    from gan_digits.studio import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize("command,argv,message", [
    ("gif", ["run", "--sclae", "2"], "sclae is not allowed: python -m gan_digits.gif has no setting sclae (did you mean "
                                     "scale?)"),
    ("gif", ["run", "ms=fast"], "ms='fast' is not allowed: expected an integer"),
    ("plot", ["run", "--ot", "c.png"], "ot is not allowed: python -m gan_digits.plot has no setting ot (did you mean out?)"),
    ("compare", ["sweep", "sort=fid"], "sort=fid is not allowed: python -m gan_digits.compare has no setting sort "
                                       "(the settings are mean_over, out)"),
    # was argparse's "the following arguments are required: run_dir"
    ("gif", [], "run_dir must be set: a run dir (outputs/<date>/<time>) or its samples/ folder (python -m gan_digits.gif "
                "<run_dir>)"),
])
def test_gif_plot_and_compare_name_a_bad_word_as_typed(command, argv, message, capsys):
    """argparse printed its usage, then `unrecognized arguments: --sclae 2`."""
    main = importlib.import_module(f"gan_digits.{command}").main
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"


def test_gif_and_plot_take_their_settings_as_key_value_too(trained, tmp_path):
    """As sample.py, evaluate and the studio do: `scale=2`, `out=...`."""
    from gan_digits.gif import main as gif_main
    from gan_digits.plot import main as plot_main

    gif_main([str(trained["gan"]), "scale=2", "ms=100", f"out={tmp_path / 't.gif'}"])
    with Image.open(next((trained["gan"] / "samples").glob("step_*.png"))) as grid, Image.open(tmp_path / "t.gif") as gif:
        assert gif.info["duration"] == 100 and gif.size == (2 * grid.width, 2 * grid.height)
    plot_main([str(trained["gan"]), f"out={tmp_path / 'c.png'}"])
    assert (tmp_path / "c.png").stat().st_size > 0


@pytest.fixture(scope="module")
def studio_with_strokes(tmp_path_factory):
    """A studio serving a small MLP GAN trained long enough (~5 s) to draw strokes on black, not grey."""
    from conftest import compose_train
    from gan_digits.training import train

    run = tmp_path_factory.mktemp("stroke_run")
    train(compose_train("gan", ["model.generator.hidden=[128,256,512]", "model.discriminator.hidden=[256,128]",
                                "trainer.max_steps=500", "data.subset=4096", "data.batch_size=64",
                                "trainer.limit_val_batches=0", "trainer.log_every_n_steps=50",
                                "~callbacks.sample_grid"], output_dir=run))  # its grids and logging: 2/3 of the time
    server = make_server(build_generator(load_checkpoint(run / "checkpoints" / "last.ckpt")), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_studio_page_shows_digits_in_headless_chromium(studio_with_strokes, tmp_path):
    studio = studio_with_strokes
    shot = tmp_path / "page.png"
    subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800", "--virtual-time-budget=10000",
         f"--screenshot={shot}", studio + "/"],
        check=True, capture_output=True, timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("L")).astype(int)
    # The page is white; the digit grid is white strokes on black cells. Find the black cells.
    dark = pixels < 40
    assert dark.mean() > 0.05, "no generated digits on the page"
    rows, cols = np.nonzero(dark)
    picture = pixels[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert (picture > 128).mean() > 0.02  # strokes inside the grid: digits, not just black squares
