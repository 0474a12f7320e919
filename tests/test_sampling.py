"""sample.py turns a checkpoint into a PNG grid or an npz, and refuses bad requests before any work."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import imported_modules, run_script
from gan_digits.checkpoint import CheckpointError, build_generator, load_checkpoint
from gan_digits.checks import ConfigError
from gan_digits.data.pixels import to_uint8
from gan_digits.modes import digit_rows, grid, interpolate, noise, sample, slerp
from gan_digits.sampling import grid_image


def _ckpt(trained, model):
    return trained[model] / "checkpoints" / "last.ckpt"


def test_cli_writes_png_grid_without_importing_lightning_or_torchvision(trained, tmp_path):
    out = tmp_path / "grid.png"
    result = run_script("-X", "importtime", "sample.py", f"ckpt={_ckpt(trained, 'dcgan')}", f"out={out}", "n=16")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(str(out))
    grid = Image.open(out)
    assert grid.mode == "L" and grid.size == (4 * 30 + 2, 4 * 30 + 2)  # 16 digits, 4 x 4, 2 px of padding
    assert not (tmp_path / ".hydra").exists() and not (tmp_path / "outputs").exists()
    # The grid holds the digits the same seed exports, row by row.
    digits = np.load(sample(_ckpt(trained, "dcgan"), tmp_path / "d.npz", n=16))["images"]
    pixels = np.asarray(grid)
    for k, digit in enumerate(digits):
        row, column = divmod(k, 4)
        np.testing.assert_array_equal(pixels[2 + 30 * row : 30 * (row + 1), 2 + 30 * column : 30 * (column + 1)], digit)
    imported = imported_modules(result.stderr)
    assert "torch" in imported and not imported & {"lightning", "torchvision"}  # ~4 s of sample.py's ~9 on 2 cores


@pytest.mark.parametrize("n,columns", [(16, 4), (10, 8), (7, 3)])
def test_grid_lays_digits_out_as_torchvision_does(n, columns):
    from torchvision.utils import make_grid

    images = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n)) * 2.4 - 1.2  # some out of range
    expected = make_grid(images, nrow=columns, normalize=True, value_range=(-1, 1), pad_value=1.0)[0]
    expected = expected.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)  # as torchvision's save_image writes it
    grid = grid_image(images, columns)
    assert grid.dtype == torch.uint8 and grid.shape == (1, *expected.shape)
    assert (grid[0].int() - expected.int()).abs().max() <= 1  # rounding half to even, or up


@pytest.mark.parametrize("model", ["gan", "cdcgan"])
def test_cli_writes_npz_in_the_evaluation_format(trained, tmp_path, model):
    out = tmp_path / "digits.npz"
    result = run_script("sample.py", f"ckpt={_ckpt(trained, model)}", f"out={out}", "n=25")
    assert result.returncode == 0, result.stderr
    data = np.load(out)
    assert set(data.files) == {"images", "labels"}
    assert data["images"].dtype == np.uint8 and data["images"].shape == (25, 28, 28)
    assert data["labels"].dtype == np.int64 and data["labels"].shape == (25,)
    expected = np.arange(25) % 10 if model == "cdcgan" else np.full(25, -1)
    np.testing.assert_array_equal(data["labels"], expected)
    # The same seed draws the same digits, in the same pixels as the generator's own output.
    generator = build_generator(load_checkpoint(_ckpt(trained, model)))
    z = torch.randn(25, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = generator(z, torch.from_numpy(expected) if model == "cdcgan" else None)
    expected_pixels = ((images[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    np.testing.assert_array_equal(data["images"], expected_pixels)


@pytest.mark.parametrize("model", ["gan", "cdcgan"])
def test_cli_writes_a_png_per_digit_into_a_folder(trained, tmp_path, model):
    folder = tmp_path / "digits"
    result = run_script("sample.py", f"ckpt={_ckpt(trained, model)}", f"out={folder}/", "n=12", "scale=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(str(folder))
    exported = np.load(sample(_ckpt(trained, model), tmp_path / "d.npz", n=12))  # the same seed's digits and labels
    names = [f"{k:05d}" + (f"_{label}" if label >= 0 else "") + ".png" for k, label in enumerate(exported["labels"])]
    assert sorted(path.name for path in folder.iterdir()) == names  # 00000_0.png ... for cdcgan, 00000.png ... for gan
    for name, digit in zip(names, exported["images"]):
        image = Image.open(folder / name)
        assert image.mode == "L" and image.size == (56, 56)
        np.testing.assert_array_equal(np.asarray(image)[::2, ::2], digit)


def test_a_folder_out_is_new_or_empty_and_for_the_grid_alone(trained, tmp_path):
    ckpt = _ckpt(trained, "gan")
    (tmp_path / "empty").mkdir()
    assert sample(ckpt, tmp_path / "empty", n=2) == tmp_path / "empty"  # an existing empty folder: no slash needed
    assert sorted(path.name for path in (tmp_path / "empty").iterdir()) == ["00000.png", "00001.png"]
    before = (tmp_path / "empty" / "00000.png").read_bytes()
    with pytest.raises(ConfigError, match=r"^out='.*empty/' is not allowed: that folder holds files already \(name a "
                                          r"new or empty folder: nothing is overwritten\)$"):
        sample(ckpt, f"{tmp_path / 'empty'}/", n=2, seed=5)
    assert (tmp_path / "empty" / "00000.png").read_bytes() == before
    refusals = [
        ({"out": f"{tmp_path / 'a'}/", "mode": "digits"}, r"^out='.*a/' does not fit mode=digits: a folder \(one PNG per "
                                                          r"digit\) is for mode=grid$"),
        ({"out": f"{tmp_path / 'a'}/", "columns": 2}, r"^columns=2 does not fit out='.*a/': a folder holds each digit "
                                                      r"as a PNG of its own \(columns lays out a grid\)$"),
        ({"out": f"{tmp_path / 'no' / 'a'}/"}, r"^out='.*no/a/' is not allowed: its folder .*no does not exist$"),
        ({"out": f"{tmp_path / 'empty' / '00000.png'}/"}, r"^out='.*00000.png/' is not allowed: it is a file, not a "
                                                          r"folder$"),
        ({"out": str(tmp_path / "a")}, r"^out='.*a' is not allowed: expected a file ending in one of .png, .npz, .gif, "
                                       r"or a folder ending in / \(mode=grid: a PNG per digit\)$"),
    ]
    for kwargs, said in refusals:
        with pytest.raises(ConfigError, match=said):
            sample(ckpt, **kwargs)
    assert not (tmp_path / "a").exists()


def test_digits_pick_the_labels(trained, tmp_path):
    out = sample(_ckpt(trained, "cdcgan"), tmp_path / "d.npz", n=6, digits=[3, 7])
    np.testing.assert_array_equal(np.load(out)["labels"], [3, 7, 3, 7, 3, 7])
    out = sample(_ckpt(trained, "cdcgan"), tmp_path / "one.npz", n=3, digits=3)  # digits=3 on the command line
    np.testing.assert_array_equal(np.load(out)["labels"], [3, 3, 3])


def _drawn_with_codes(generator, z, codes):
    """What G draws from `z` with the codes `codes` set in it (InfoGAN's, or clusters; checked to be the codes G
    reads back)."""
    coded = generator.with_code(z, torch.tensor(codes))
    assert generator.code(coded).tolist() == codes
    with torch.no_grad():
        return generator.eval()(coded)


def test_codes_ask_an_infogan_model_for_its_codes(infogan_ckpt, tmp_path):
    """A model trained with InfoGAN codes (its training grid: a row per code) drew only each noise's own code:
    `mode=digits` needed a conditional model, and nothing could ask for a code."""
    generator = build_generator(load_checkpoint(infogan_ckpt))
    rows = digit_rows(generator, codes=[1, 3], columns=4)  # a row per code asked, 4 digits each
    assert rows.columns == 4 and rows.labels is None
    torch.testing.assert_close(rows.images, _drawn_with_codes(generator, noise(0, 8, 100), [1] * 4 + [3] * 4))
    every = digit_rows(generator, seed=5)  # by default every code, 8 digits each
    torch.testing.assert_close(every.images, _drawn_with_codes(generator, noise(5, 32, 100), [c // 8 for c in range(32)]))
    walk = interpolate(generator, a=2, b=9, steps=4, codes=[3, 0])  # a row per code asked, each the same walk
    z = slerp(noise(2, 1, 100), noise(9, 1, 100), torch.linspace(0, 1, 4))
    torch.testing.assert_close(walk.images, _drawn_with_codes(generator, z.repeat(2, 1), [3] * 4 + [0] * 4))
    cycled = grid(generator, n=6, seed=1, codes=[2, 0])
    assert cycled.columns == 2  # a code per column
    torch.testing.assert_close(cycled.images, _drawn_with_codes(generator, noise(1, 6, 100), [2, 0] * 3))
    own = grid(generator, n=6, seed=1)  # none asked: each noise's own code, as before
    with torch.no_grad():
        torch.testing.assert_close(own.images, generator(noise(1, 6, 100)))
    exported = np.load(sample(infogan_ckpt, tmp_path / "d.npz", n=6, seed=1, codes=[2, 0]))
    np.testing.assert_array_equal(exported["labels"], np.full(6, -1))  # a code is not a digit label
    np.testing.assert_array_equal(exported["images"], to_uint8(cycled.images[:, 0]).numpy())
    result = run_script("sample.py", f"ckpt={infogan_ckpt}", "mode=digits", "codes=3", "columns=4",
                        f"out={tmp_path / 'rows.png'}")
    assert result.returncode == 0, result.stderr
    expected = grid_image(digit_rows(generator, codes=[3], columns=4).images, 4)[0].numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "rows.png")), expected)


def test_codes_ask_a_self_conditioned_model_for_its_clusters(trained):
    """dcgan's G draws one of 30 clusters of the training digits, read off its noise, and nothing could ask for
    one: its clusters are now its codes, as an InfoGAN model's are."""
    generator = build_generator(load_checkpoint(_ckpt(trained, "dcgan")))
    drawn = generator.drawn_codes()
    assert generator.codes == 30 and len(drawn) > 2
    rows = digit_rows(generator, columns=2)  # by default a row per cluster it draws
    assert len(rows.images) == 2 * len(drawn) and rows.labels is None
    torch.testing.assert_close(rows.images, _drawn_with_codes(generator, noise(0, 2 * len(drawn), 100),
                                                              [c for c in drawn for _ in range(2)]))
    picked = grid(generator, n=6, seed=1, codes=drawn[:2])
    torch.testing.assert_close(picked.images, _drawn_with_codes(generator, noise(1, 6, 100), drawn[:2] * 3))
    # A cluster that holds no training digit was never drawn in training: refused, and left out of the rows.
    sizes = torch.ones(1, 30)
    sizes[0, 7] = 0
    generator.set_cluster_sizes(sizes)
    assert 7 not in generator.drawn_codes() and len(digit_rows(generator, columns=1).images) == 29
    with pytest.raises(ConfigError, match=r"^codes=\[3, 7\] asks for clusters \[7\], which hold no training digits: "
                                          r"the model never learnt to draw them \(those it draws: \[0, 1, .*, 6, 8, "):
        grid(generator, codes=[3, 7])


@pytest.mark.parametrize("kwargs,message", [
    ({"digits": [3]}, r"^digits=\[3\] given, but this checkpoint's MLPGenerator is unconditional: ask for its InfoGAN "
                      r"codes instead, codes=\[3\] \(mode=digits shows what each draws\)$"),
    ({"codes": [1, 4]}, r"^codes=4 is not allowed: expected an integer from 0 to 3$"),
    ({"mode": "digits", "codes": []}, r"^codes=\[\] is not allowed: expected a list of codes from 0 to 3$"),
    ({"mode": "arithmetic", "codes": []}, r"^codes=\[\] is not allowed"),
])
def test_bad_codes_are_named(infogan_ckpt, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        sample(infogan_ckpt, tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_same_seed_same_digits_other_seed_other_digits(trained, tmp_path):
    a = np.load(sample(_ckpt(trained, "gan"), tmp_path / "a.npz", n=4, seed=1))["images"]
    b = np.load(sample(_ckpt(trained, "gan"), tmp_path / "b.npz", n=4, seed=1))["images"]
    c = np.load(sample(_ckpt(trained, "gan"), tmp_path / "c.npz", n=4, seed=2))["images"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(
    "model,kwargs,message",
    [
        ("cdcgan", {"digits": [3, 10]}, r"digits=10 is not allowed: expected an integer from 0 to 9"),
        ("cdcgan", {"digits": [-1]}, r"digits=-1 is not allowed"),
        ("cdcgan", {"digits": "abc"}, r"^digits='abc' is not allowed: expected an integer from 0 to 9$"),  # said 'a'
        ("cdcgan", {"digits": 3.5}, r"^digits=3.5 is not allowed: expected an integer from 0 to 9$"),  # a TypeError
        ("cdcgan", {"mode": "interpolate", "digits": []}, r"^digits=\[\] is not allowed"),  # drew 0s
        # cdcgan's clusters are styles within the digit asked for: not codes
        ("cdcgan", {"codes": [3]}, r"^codes=\[3\] given, but this checkpoint's DCGANGenerator has no "
                                   r"codes: ask for its digits instead, digits=\[3\]$"),
        ("gan", {"codes": 3}, r"^codes=\[3\] given, but this checkpoint's MLPGenerator has no codes: leave codes out "
                              r"\(only a model trained with model.generator.latent_codes or model.generator.clusters "
                              r"has them\)$"),
        ("gan", {"mode": "digits"}, r"^mode=digits needs a conditional model \(such as cdcgan\) or one with codes: "
                                    r"InfoGAN's \(model.generator.latent_codes\) or clusters \(model.generator.clusters, "
                                    r"dcgan's default\): this checkpoint's has neither$"),
        ("dcgan", {"digits": [3]}, r"^digits=\[3\] given, but this checkpoint's DCGANGenerator is unconditional: ask "
                                   r"for its clusters instead, codes=\[3\] \(mode=digits shows what each draws\)$"),
        ("dcgan", {"codes": [30]}, r"^codes=30 is not allowed: expected an integer from 0 to 29$"),
        ("dcgan", {"n": 0}, r"n=0 is not allowed: expected an integer from 1 to 60000"),
        ("dcgan", {"n": 10**8}, r"n=100000000 is not allowed: expected an integer from 1 to 60000"),  # was an allocation error
        ("gan", {"seed": "abc"}, r"seed='abc' is not allowed: expected an integer from 0 to 2147483647"),  # was torch's traceback
        ("gan", {"mode": "interpolate", "b": -1}, r"b=-1 is not allowed"),
        ("cdcgan", {"mode": "digits", "digits": [1, 2], "columns": 30_001}, r"columns=30001 is not allowed: expected an integer from 1 to 30000"),
        ("cdcgan", {"mode": "interpolate", "steps": 6001}, r"^steps=6001 is not allowed with a row for each of the 10 "
                                                          r"digits or codes asked: expected at most 6000 \(or ask for fewer\)$"),  # 60,010 digits
        ("gan", {"mode": "compare", "data_root": None}, r"^data_root=null is not allowed: expected a path$"),  # a TypeError
    ],
)
def test_bad_requests_are_named(trained, tmp_path, model, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        sample(_ckpt(trained, model), tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_a_checkpoint_or_output_that_is_no_path_is_named(tmp_path):
    for kwargs, said in (({"ckpt": None}, "ckpt=null"), ({"ckpt": 5}, "ckpt=5"), ({"ckpt": "x.ckpt", "out": 5}, "out=5")):
        with pytest.raises(ConfigError, match=rf"^{said} is not allowed: expected a path$"):  # were TypeErrors
            sample(**kwargs)


def test_output_in_missing_folder_or_wrong_suffix(trained, tmp_path):
    with pytest.raises(ConfigError, match=r"its folder .*nowhere does not exist"):
        sample(_ckpt(trained, "gan"), tmp_path / "nowhere" / "x.png")
    with pytest.raises(ConfigError, match=r"expected a file ending in one of .png, .npz, .gif"):
        sample(_ckpt(trained, "gan"), tmp_path / "x.jpg")


def test_a_checkpoint_under_home_can_be_named_with_a_tilde(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "last.ckpt").write_bytes(_ckpt(trained, "gan").read_bytes())
    assert load_checkpoint("~/last.ckpt")["global_step"] == load_checkpoint(_ckpt(trained, "gan"))["global_step"]


def test_missing_truncated_and_foreign_checkpoints(trained, tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*nope.ckpt"):
        load_checkpoint(tmp_path / "nope.ckpt")
    for folder in (trained["gan"], trained["gan"] / "checkpoints"):  # a run dir, or its checkpoints/
        with pytest.raises(CheckpointError, match=rf"checkpoint {folder} is a folder: expected a .ckpt file written "
                                                  rf"by train.py, such as {_ckpt(trained, 'gan')}$"):
            load_checkpoint(folder)
    with pytest.raises(CheckpointError, match=rf"checkpoint {tmp_path} is a folder: expected a .ckpt file written by train.py$"):
        load_checkpoint(tmp_path)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(_ckpt(trained, "gan").read_bytes()[:10_000])
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*truncated.ckpt: truncated or corrupt"):
        load_checkpoint(truncated)
    for name, content in (("notes.ckpt", b"not a checkpoint\n"), ("passwd", b"root:x:0:0:root:/root:/bin/bash\n")):
        (tmp_path / name).write_bytes(content)  # torch.load raised an UnpicklingError or an IndexError
        with pytest.raises(CheckpointError, match=rf"cannot read checkpoint .*{name}: truncated or corrupt, or not a checkpoint"):
            load_checkpoint(tmp_path / name)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match=r"is not a gan_digits checkpoint"):
        load_checkpoint(foreign)
    newer = tmp_path / "newer.ckpt"
    torch.save({"gan_digits": {"format_version": 99, "model": {}}}, newer)
    with pytest.raises(CheckpointError, match=r"format version 99; this gan_digits reads version 1"):
        load_checkpoint(newer)


class _Payload:
    """Unpickling this object would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_with_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"gan_digits": {"format_version": 1, "model": {}}, "payload": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError, match=r"^refusing to load .*evil.ckpt: it holds objects other than tensors "
                                              r"and plain types, which could run code when unpickled \(it names "
                                              r"_?io.open\); gan_digits checkpoints never do$"):
        load_checkpoint(evil)  # said without torch's advice to load it with weights_only=False
    assert not marker.exists()


def test_config_targets_outside_the_package_are_refused(trained, tmp_path):
    checkpoint = torch.load(_ckpt(trained, "gan"), weights_only=True)
    checkpoint["gan_digits"]["model"]["generator"] = {"_target_": "os.system", "command": "touch pwned"}
    with pytest.raises(CheckpointError, match=r"_target_ 'os.system' is not a gan_digits class"):
        build_generator(checkpoint)


def test_weights_that_do_not_fit_the_config_are_named(trained):
    checkpoint = torch.load(_ckpt(trained, "dcgan"), weights_only=True)
    checkpoint["gan_digits"]["model"]["generator"]["width"] = 16  # the weights were trained at width 8
    with pytest.raises(CheckpointError, match=r"generator weights do not fit the DCGANGenerator its config builds "
                                              r"\(written by another version of gan_digits\?\): .*size mismatch"):
        build_generator(checkpoint)


def test_cli_names_an_unknown_key_before_importing_torch():
    result = run_script("-X", "importtime", "sample.py", "ckpt=x.ckpt", "mdoe=grid")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: mdoe=grid is not allowed: the config has no key mdoe (did you mean mode?)")
    imported = imported_modules(result.stderr)
    assert "hydra" in imported and "torch" not in imported  # a second, not the ten of importing torch and Lightning


def test_cli_reports_bad_input_in_one_line(trained, tmp_path):
    result = run_script("sample.py", f"ckpt={tmp_path / 'missing.ckpt'}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: checkpoint not found: {tmp_path / 'missing.ckpt'}"
    result = run_script("sample.py")  # Hydra's ??? reached the loader as a path: "checkpoint not found: ???"
    assert result.returncode == 2
    assert result.stderr.strip() == "error: ckpt must be set: e.g. python sample.py ckpt=outputs/<date>/<time>/checkpoints/last.ckpt"
