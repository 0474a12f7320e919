"""The yardstick: the shipped classifier, FID/KID, modes, label accuracy, intra-class FID, evaluate."""

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from conftest import DATA, compose_train, run_script
from gan_digits.callbacks import QualityMetrics
from gan_digits.checks import ConfigError, UserInputError, instantiate
from gan_digits.compare import compare
from gan_digits.data import load_split
from gan_digits.evaluate import evaluate
from gan_digits.evaluate import main as evaluate_main
from gan_digits.metrics import FeatureExtractor, QualityMeter, build_meter, distance_backbone, load_classifier
from gan_digits.metrics.precision_recall import knn_radii, precision_recall
from gan_digits.metrics.quality import CONDITIONAL_METRICS, METRICS
from gan_digits.metrics.scoring import add_real_test_digits, distance_features
from gan_digits.modes import sample
from gan_digits.run_summary import run_summary
from gan_digits.training import build


@pytest.fixture(scope="module")
def test_split():
    return load_split(DATA, "test")


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(load_classifier())


def _score(extractor, real, fake, conditional=False, subset=100):
    meter = QualityMeter(extractor, conditional, kid_subset_size=subset)
    meter.update_real(real[0].unsqueeze(1), real[1])
    meter.update_fake(fake[0].unsqueeze(1), fake[1] if conditional else None)
    return meter.compute()


def test_shipped_classifier_reads_test_digits(test_split):
    images, labels = test_split
    classifier = load_classifier()
    with torch.no_grad():
        predictions = classifier(images[:2000].unsqueeze(1)).argmax(1)
    assert (predictions == labels[:2000]).float().mean() >= 0.99
    assert not any(p.requires_grad for p in FeatureExtractor(classifier).parameters())


def test_extractor_folds_batch_norm_and_keeps_the_classifiers_features(test_split):
    classifier = load_classifier()
    images = test_split[0][:300].unsqueeze(1)
    with torch.no_grad():
        features, logits = classifier.features(images), classifier(images)
    extractor = FeatureExtractor(classifier)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in extractor.modules())
    assert sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in classifier.modules()) == 5  # a copy was folded
    torch.testing.assert_close(extractor(images), features, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(extractor.classify(extractor(images)), logits.softmax(1), rtol=1e-4, atol=1e-5)


def test_fid_real_vs_real_small_noise_vs_real_large(extractor, test_split):
    images, labels = test_split
    real = (images[:1000], labels[:1000])
    other_real = _score(extractor, real, (images[1000:2000], labels[1000:2000]))
    noise = torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8)
    noisy = _score(extractor, real, (noise, labels[:1000]))
    assert other_real["fid"] < 5 and noisy["fid"] > 100 * other_real["fid"]
    assert noisy["kid_mean"] > 100 * max(other_real["kid_mean"], 1e-4)
    assert other_real["modes"] == 10 and other_real["class_kl"] < 0.01 and other_real["confidence"] > 0.95
    assert other_real["precision"] > 0.8 and other_real["recall"] > 0.8  # real digits lie among real digits
    assert noisy["precision"] == noisy["recall"] == 0  # noise is no digit, and no digit is noise


def test_modes_and_label_accuracy_on_crafted_sets(extractor, test_split):
    images, labels = test_split
    real = (images[:1000], labels[:1000])
    threes = images[labels == 3][:600]
    only_threes = _score(extractor, real, (threes, torch.full((600,), 3)), conditional=True)
    assert only_threes["modes"] == 1 and only_threes["class_kl"] > 2.0
    # Real 3s are digits (precision as high as the real floor's) and cover only the 3s (recall ~ a tenth):
    # the two failures FID mixes into one number, told apart.
    assert only_threes["precision"] > 0.8 and only_threes["recall"] < 0.2
    assert only_threes["label_acc"] > 0.98
    assert only_threes["intra_fid"] < 10  # only the digit asked for (3) counts
    shuffled = labels[1000:2000][torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    wrong_labels = _score(extractor, real, (images[1000:2000], shuffled), conditional=True)
    assert wrong_labels["label_acc"] < 0.2 and wrong_labels["modes"] == 10


def test_precision_and_recall_tell_digits_off_the_manifold_from_kinds_never_drawn():
    real = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    assert precision_recall(real, real + 100) == (0.0, 0.0)
    collapsed = real[:5].repeat(100, 1)  # five real points, drawn a hundred times each
    assert precision_recall(real, collapsed) == (1.0, 5 / 500)
    near = real + 1e-3
    assert precision_recall(real, near, real_radii=knn_radii(real))[0] == 1.0
    assert precision_recall(real, near, real_radii=torch.zeros(500))[0] == 0.0  # the radii given are the ones used
    with pytest.raises(ValueError, match=r"^precision and recall need more than k=3 generated digits, got 3$"):
        precision_recall(real, real[:3])


def test_code_purity_is_the_share_of_digits_their_code_draws_most(extractor, test_split):
    """An InfoGAN model's codes were scored by nothing: whether each code draws one digit is what InfoGAN is for."""
    images, labels = test_split
    ones, twos, threes = (images[labels == d][:200] for d in (1, 2, 3))
    meter = QualityMeter(extractor, False, kid_subset_size=100, codes=3)
    meter.update_real(images[:1000].unsqueeze(1), labels[:1000])
    # Code 0 draws 200 1s, 100 2s and 100 3s, code 1 100 2s and 100 3s, code 2 nothing; in two batches.
    batches = [(torch.cat([ones, twos[:100]]), [0] * 200 + [1] * 100),
               (torch.cat([threes[:100], twos[100:], threes[100:]]), [1] * 100 + [0] * 200)]
    for digits, codes in batches:
        meter.update_fake(digits.unsqueeze(1), codes=torch.tensor(codes))
    with torch.no_grad():  # each code's most drawn digit, as the classifier reads them
        read = torch.cat([extractor.classify(extractor(digits.unsqueeze(1))).argmax(1) for digits, _ in batches])
    codes = torch.tensor([code for _, codes in batches for code in codes])
    expected = sum(torch.bincount(read[codes == code], minlength=10).max() for code in (0, 1)) / 600
    purity = meter.compute()["code_purity"]
    assert purity == pytest.approx(float(expected)) and 0.4 < purity < 0.6  # (200 + 100) of 600, read nearly so
    meter.reset_fake()
    meter.update_fake(ones.unsqueeze(1), codes=torch.zeros(200, dtype=torch.long))
    meter.update_fake(threes.unsqueeze(1), codes=torch.ones(200, dtype=torch.long))
    assert meter.compute()["code_purity"] > 0.98  # a code a digit
    meter.reset_fake()
    meter.update_fake(torch.cat([ones, threes]).unsqueeze(1))  # digits without codes (the real-data floor)
    assert "code_purity" not in meter.compute()


def test_intra_fid_flags_one_image_per_label(extractor, test_split):
    images, labels = test_split
    real = (images[:2000], labels[:2000])
    varied = _score(extractor, real, (images[2000:3000], labels[2000:3000]), conditional=True)
    # Every digit drawn as one and the same (real) image, repeated: perfect labels, no variety.
    firsts = torch.stack([images[labels == d][0] for d in range(10)])
    asked = torch.arange(1000) % 10
    repeated = _score(extractor, real, (firsts[asked], asked), conditional=True)
    assert repeated["label_acc"] == 1.0
    assert repeated["intra_fid"] > 10 * varied["intra_fid"]


def test_kid_is_the_same_every_time_and_leaves_the_noise_stream_alone(extractor, test_split):
    images, labels = test_split
    real, fake = (images[:500], labels[:500]), (images[500:800], labels[500:800])
    torch.manual_seed(1)
    first = _score(extractor, real, fake)["kid_mean"]
    after_first = torch.rand(1)
    torch.manual_seed(2)
    assert _score(extractor, real, fake)["kid_mean"] == first  # the same subsets, whatever the global seed
    torch.manual_seed(1)
    assert torch.equal(torch.rand(1), after_first)  # scoring drew nothing from the global generator


def test_a_conditional_meter_scores_either_kind_of_digits_against_its_real_statistics(extractor, test_split):
    images, labels = test_split
    real, fake = (images[:500], labels[:500]), (images[500:800], labels[500:800])
    meter = QualityMeter(extractor, True, kid_subset_size=100)
    meter.update_real(real[0].unsqueeze(1), real[1])
    meter.reset_fake(conditional=False)
    meter.update_fake(fake[0].unsqueeze(1))
    assert meter.compute() == _score(extractor, real, fake)
    meter.reset_fake(conditional=True)
    meter.update_fake(fake[0].unsqueeze(1), fake[1])
    assert meter.compute() == _score(extractor, real, fake, conditional=True)
    with pytest.raises(ValueError, match="a meter built unconditional holds no per-digit real statistics"):
        QualityMeter(extractor, False).reset_fake(conditional=True)


def test_too_few_samples_for_kid(extractor, test_split):
    images, labels = test_split
    with pytest.raises(UserInputError, match=r"50 digits to score are fewer than KID's subset size 100: score at least 100 \(n=\) or lower kid_subset_size"):
        _score(extractor, (images[:200], labels[:200]), (images[200:250], labels[200:250]))


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_bad_npz_files_are_named(tmp_path):
    good_images = np.zeros((20, 28, 28), np.uint8)
    cases = [
        (np.zeros((20, 28, 28), np.float32), np.full(20, -1), r"images are float32 \(20, 28, 28\), expected uint8 \(N, 28, "
                                                              r"28\), .* \(floats in \[0, 1\]: np.round\(images \* 255\)"),
        (np.zeros((20, 32, 32), np.uint8), np.full(20, -1), r"expected uint8 \(N, 28, 28\)"),
        (good_images, np.full(19, -1), r"labels are int64 \(19,\), expected integers \(20,\)"),
        (good_images, np.array([-1] * 10 + [3] * 10), r"labels must all be -1 \(unconditional\) or all digits 0-9"),
    ]
    for i, (images, labels, message) in enumerate(cases):
        path = _write_npz(tmp_path / f"bad{i}.npz", images=images, labels=labels.astype(np.int64))
        with pytest.raises(UserInputError, match=message):
            evaluate(str(path), str(DATA), kid_subset_size=10)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:100])  # a copy cut short: was zipfile's BadZipFile traceback
    with pytest.raises(UserInputError, match=r"^cannot read .*truncated.npz: File is not a zip file; expected an npz"):
        evaluate(str(truncated), str(DATA))
    with pytest.raises(UserInputError, match="is not a gan_digits checkpoint"):
        torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
        evaluate(str(tmp_path / "foreign.ckpt"), str(DATA))
    with pytest.raises(UserInputError, match=r"kid_subset_size=0 is not allowed: expected an integer from 4 to 10000"):
        evaluate(str(path), str(DATA), kid_subset_size=0)  # was torchmetrics' ValueError, a traceback
    three = _write_npz(tmp_path / "three.npz", images=good_images[:3])
    with pytest.raises(UserInputError, match=r"kid_subset_size=3 is not allowed: expected an integer from 4 to 10000 "
                                             r"\(KID draws .*, and precision and recall need more than 3 generated digits\)"):
        evaluate(str(three), str(DATA), kid_subset_size=3)  # precision's ValueError, a traceback after scoring
    with pytest.raises(UserInputError, match=r"n=50 is not allowed: expected an integer from 1000 to 60000 \(KID draws "
                                             r"subsets of kid_subset_size=1000 digits\)"):
        evaluate(None, str(DATA), n=50, real=True)  # failed after scoring them
    with pytest.raises(UserInputError, match=r"^seed=18446744073709551616 is not allowed: expected an integer from 0 "
                                             r"to 2147483647$"):
        evaluate(str(path), str(DATA), seed=2**64)  # torch's ValueError, a traceback after the real digits' features
    few = _write_npz(tmp_path / "few.npz", images=good_images)
    with pytest.raises(UserInputError, match=rf"^{few} holds 20 digits, fewer than kid_subset_size=1000 \(KID draws "
                                             rf"subsets of that many\): sample at least 1000 into it \(sample.py n=1000 "
                                             rf"out={few}\), or lower kid_subset_size$"):
        evaluate(str(few), str(DATA))  # said "score at least 1000 (n=)", a setting an npz does not take, after scoring
    with pytest.raises(UserInputError, match=r"^inception_weights=w.pth is not allowed with backbone=classifier, which "
                                             r"does not read it: it is for backbone=inception$"):
        evaluate(str(path), str(DATA), inception_weights="w.pth")  # scored on the classifier's features without a word
    with pytest.raises(UserInputError, match=rf"--real scores real digits, and {path} was given too: give one of them"):
        evaluate(str(path), str(DATA), real=True)  # scored the real digits, leaving the file unscored without a word
    with pytest.raises(UserInputError, match=r"nothing to evaluate: give a checkpoint, an .npz or a folder of PNGs, "
                                             r"or --real"):
        evaluate(None, str(DATA))


def test_an_npz_of_another_gans_digits_is_scored_as_sample_pys_layout(tmp_path):
    """Its images alone (they were refused without labels), flattened or with a channel, its labels any integers."""
    images, labels = (t[:200].numpy() for t in load_split(DATA, "train"))

    def score(**arrays):
        return evaluate(str(_write_npz(tmp_path / "digits.npz", **arrays)), str(DATA), kid_subset_size=50)

    unconditional = score(images=images, labels=np.full(200, -1))
    assert score(images=images.reshape(200, 784)) == score(images=images[:, None]) == unconditional
    conditional = score(images=images, labels=labels.astype(np.int64))
    assert score(images=images[:, None], labels=labels.astype(np.int32)) == conditional
    assert set(conditional) - set(unconditional) == {"label_acc", "intra_fid"}


def test_a_folder_of_pngs_is_scored_as_the_npz_of_its_digits(trained, tmp_path):
    """sample.py's folder (labelled by name) and another GAN's (any names, in colour: unconditional)."""
    images, labels = (t[:200].numpy() for t in load_split(DATA, "train"))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir(), theirs.mkdir()
    for k, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(ours / f"{k:05d}_{label}.png")
        Image.fromarray(image).convert("RGB").save(theirs / f"img_{k:03d}.png")  # in name order, as ours

    def score(path):
        return evaluate(str(path), str(DATA), kid_subset_size=50)

    assert score(ours) == score(_write_npz(tmp_path / "ours.npz", images=images, labels=labels.astype(np.int64)))
    assert score(theirs) == score(_write_npz(tmp_path / "theirs.npz", images=images))
    (tmp_path / "empty").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(theirs / "img_200.png")
    (ours / "00007_3.png").write_bytes(b"not a png")
    refusals = [
        (tmp_path / "empty", r"^.*empty holds no .png files: expected a folder of 28x28 digits \(sample.py "
                             r"out=<folder>/ writes one\)$"),
        (theirs, r"^.*img_200.png is 32x32 px, expected 28x28 as MNIST's digits \(sample.py writes them so with "
                 r"scale=1\)$"),
        (ours, r"^cannot read .*00007_3.png: cannot identify image file"),
        (trained["gan"], r"^checkpoint .* is a folder: expected a .ckpt file written by train.py, such as "
                         r".*checkpoints/last.ckpt$"),  # a run dir: its checkpoint is meant
    ]
    for path, said in refusals:
        with pytest.raises(UserInputError, match=said):
            score(path)
    few = tmp_path / "few"
    few.mkdir()
    Image.fromarray(images[0]).save(few / "00000.png")
    with pytest.raises(UserInputError, match=r"^.*few holds 1 digits, fewer than kid_subset_size=1000 \(KID draws "
                                             r"subsets of that many\): sample at least 1000 \(sample.py n=1000 out=<a "
                                             r"new folder>/\), or lower kid_subset_size$"):
        evaluate(str(few), str(DATA))


def test_evaluate_cli_prints_a_table_and_json(trained, tmp_path):
    result = run_script(
        "-m", "gan_digits.evaluate", str(trained["cdcgan"] / "checkpoints" / "last.ckpt"),
        "n=200", f"data={DATA}", "kid_subset_size=100", "--floor",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    metrics = json.loads(lines[-1])
    floor = metrics.pop("floor")
    # What QualityMetrics.metric_names says it logs, and the two distances as multiples of the floor's.
    assert set(metrics) == {*METRICS, *CONDITIONAL_METRICS, "fid_x_floor", "intra_fid_x_floor"}
    assert any(line.strip().startswith("fid") for line in lines[:-1])
    assert floor["n"] == 200 and floor["fid"] < metrics["fid"] and floor["label_acc"] > 0.98


def _count_real_feature_reads(monkeypatch) -> list:
    """Empties evaluate's kept features of the real test digits; the list it returns grows by one each time they
    are computed."""
    reads = []
    monkeypatch.setattr("gan_digits.evaluate.REAL_TEST_FEATURES", {})
    monkeypatch.setattr("gan_digits.evaluate.distance_features",
                        lambda meter, images: reads.append(len(images)) or distance_features(meter, images))
    return reads


def test_evaluate_computes_the_real_digits_features_once_a_process_for_the_same_digits(tmp_path, monkeypatch):
    """Scoring several sets of digits from Python read the 10,000 test digits through the classifier each time
    (~5 s on a 2-core CPU): kept, they are read once, and the scores are those of a fresh read."""
    images, labels = (t[:200].numpy() for t in load_split(DATA, "train"))
    npz = str(_write_npz(tmp_path / "digits.npz", images=images, labels=labels.astype(np.int64)))
    test = [t[:1000] for t in load_split(DATA, "test")]  # the test split's first 1,000, to be quick
    monkeypatch.setattr("gan_digits.evaluate.load_split",
                        lambda root, split: tuple(test) if split == "test" else load_split(root, split))
    reads = _count_real_feature_reads(monkeypatch)
    first = evaluate(npz, str(DATA), kid_subset_size=50)
    assert evaluate(npz, str(DATA), kid_subset_size=50) == first  # another meter, fed the kept features
    assert reads == [1000]
    test[0] = test[0].clone()
    test[0][0] = 255 - test[0][0]  # another folder's test digits, one of them not MNIST's
    assert evaluate(npz, str(DATA), kid_subset_size=50)["fid"] != first["fid"]
    assert reads == [1000, 1000]


def test_evaluate_floor_scores_real_digits_at_the_same_n_beside(trained, tmp_path, capsys, monkeypatch):
    """FID is biased by the number of digits (the floor reads 0.225 at 10,000, 0.572 at 2,000): the floor to
    compare a checkpoint with is the one at its n, scored against the same real test digits, read once."""
    ckpt = str(trained["cdcgan"] / "checkpoints" / "last.ckpt")
    reads = _count_real_feature_reads(monkeypatch)
    both = evaluate_main([ckpt, "--floor", "n=300", f"data={DATA}", "kid_subset_size=100"])
    assert len(reads) == 1
    assert both["floor"] == {**evaluate_main(["--real", "n=300", f"data={DATA}", "kid_subset_size=100"]), "n": 300}
    for key in ("fid", "intra_fid"):
        assert both[f"{key}_x_floor"] == round(both[key] / both["floor"][key], 2) > 1
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["this", "floor", "x", "floor", "(the", "floor:", "300", "real", "training", "digits)"]
    assert table[2].split() == ["fid", f"{both['fid']:.4f}", f"{both['floor']['fid']:.4f}", f"{both['fid_x_floor']:.2f}x"]
    # An unconditional model's digits, scored beside a floor scored per digit; the floor at the npz's length,
    # not at n's default 10,000.
    npz = sample(str(trained["gan"] / "checkpoints" / "last.ckpt"), tmp_path / "digits.npz", n=300)
    unconditional = evaluate_main([str(npz), "--floor", f"data={DATA}", "kid_subset_size=100"])
    assert unconditional["floor"] == both["floor"]
    assert set(unconditional) == {*METRICS, "fid_x_floor", "floor"}
    with pytest.raises(SystemExit) as stopped:
        evaluate_main(["--floor", "--real", f"data={DATA}"])
    assert stopped.value.code == 2 and capsys.readouterr().err == ("error: --floor scores real digits beside what is "
                                                                   "given, and --real is the floor itself: give one of them\n")


def test_evaluate_per_digit_says_which_digit_a_model_draws_worst(trained, tmp_path, capsys):
    """Which digit a conditional model draws worst was hidden in one mean (intra_fid) and one accuracy."""
    ckpt = str(trained["cdcgan"] / "checkpoints" / "last.ckpt")
    metrics = evaluate_main([ckpt, "--per-digit", "--floor", "n=300", f"data={DATA}", "kid_subset_size=100"])
    per_digit, floor = metrics["per_digit"], metrics["floor"]["per_digit"]
    assert set(per_digit) == {"share", "label_acc", "intra_fid"} and all(len(v) == 10 for v in per_digit.values())
    assert sum(per_digit["share"]) == pytest.approx(1)
    assert sum(share >= 0.05 for share in per_digit["share"]) == metrics["modes"]
    assert sum(per_digit["label_acc"]) * 30 / 300 == pytest.approx(metrics["label_acc"])  # 30 of each digit asked
    assert np.mean(per_digit["intra_fid"]) == pytest.approx(metrics["intra_fid"])
    assert np.mean(floor["intra_fid"]) == pytest.approx(metrics["floor"]["intra_fid"])
    out = capsys.readouterr().out.splitlines()
    start = out.index(next(line for line in out if line.split()[:1] == ["digit"]))
    assert out[start].split() == ["digit", "share", "label_acc", "intra_fid", "floor", "intra_fid", "x", "floor"]
    for digit, line in enumerate(out[start + 1 : start + 11]):
        this, real = per_digit["intra_fid"][digit], floor["intra_fid"][digit]
        assert line.split() == [str(digit), f"{per_digit['share'][digit]:.4f}", f"{per_digit['label_acc'][digit]:.4f}",
                                f"{this:.4f}", f"{real:.4f}", f"{this / real:.2f}x"]
    unconditional = evaluate_main([str(trained["gan"] / "checkpoints" / "last.ckpt"), "--per-digit", "n=300",
                                   f"data={DATA}", "kid_subset_size=100"])
    assert set(unconditional["per_digit"]) == {"share"}  # no digit asked: how often each is drawn
    # An npz of some digits: the others have no label accuracy or intra-class FID (NaN in the JSON, "–" shown).
    npz = sample(ckpt, tmp_path / "37.npz", n=300, digits=[3, 7])
    capsys.readouterr()
    some = evaluate_main([str(npz), "--per-digit", "--floor", f"data={DATA}", "kid_subset_size=100"])["per_digit"]
    assert [d for d in range(10) if some["label_acc"][d] == some["label_acc"][d]] == [3, 7]
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()
            if line.split()[:1] in ([str(d)] for d in range(10))}  # share, label_acc, intra_fid, floor's, x floor
    assert [rows["0"][k] for k in (1, 2, 4)] == ["–", "–", "–"] and rows["0"][3] != "–"
    assert "–" not in rows["3"] and rows["3"][4].endswith("x")


def test_evaluate_names_a_bad_word_as_typed(capsys):
    for argv, message in ((["x.ckpt", "nn=3"], "nn=3 is not allowed: python -m gan_digits.evaluate has no setting nn "
                                                "(did you mean n?)"),
                          (["--real", "real=maybe"], "real='maybe' is not allowed: expected one of true, false, 1, 0, "
                                                     "yes, no"),  # was taken for false
                          (["--real", "data.root=x"], "data.root=x is not allowed: python -m gan_digits.evaluate has no "
                                                      "setting data.root (the settings are n, seed, data, real, floor, "
                                                      "per_digit, kid_subset_size, backbone, inception_weights)"),  # was the path
                          (["a.ckpt", "b.ckpt"], "b.ckpt is not allowed: expected one path at most, then key=value "
                                                 "settings of n, seed, data, real, floor, per_digit, kid_subset_size, backbone, "
                                                 "inception_weights")):
        with pytest.raises(SystemExit) as stopped:
            evaluate_main(argv)
        assert stopped.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"


def test_ctrl_c_in_evaluate_ends_in_one_line(monkeypatch, capsys):
    def scoring(*args):
        raise KeyboardInterrupt  # as a Ctrl-C arrives, midway through the digits' features

    monkeypatch.setattr("gan_digits.evaluate.evaluate", scoring)
    with pytest.raises(SystemExit) as stopped:
        evaluate_main(["--real", f"data={DATA}"])
    assert stopped.value.code == 130 and capsys.readouterr().err == "interrupted\n"  # was a KeyboardInterrupt traceback


def test_training_the_classifier_never_overwrites_the_shipped_weights_unless_named(tmp_path, monkeypatch, capsys):
    """Its default out was the shipped classifier.pt, which every FID is computed with: a trial run replaced it."""
    import gan_digits.metrics.train_classifier as train_classifier
    from gan_digits.metrics.classifier import WEIGHTS

    shipped = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    images, labels = load_split(DATA, "test")
    monkeypatch.setattr(train_classifier, "load_split", lambda root, split: (images[:256], labels[:256]))
    monkeypatch.chdir(tmp_path)
    train_classifier.main(["data=unused", "epochs=1"])
    assert hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() == shipped
    assert torch.load(tmp_path / "classifier.pt", weights_only=True).keys() == load_classifier().state_dict().keys()
    assert capsys.readouterr().out.splitlines()[-1] == "wrote classifier.pt"
    for argv, message in ((["epochs=0"], "epochs=0 is not allowed: expected an integer >= 1"),
                          (["--epoch", "2"], "epoch is not allowed: python -m gan_digits.metrics.train_classifier has "
                                             "no setting epoch (did you mean epochs?)")):  # was taken for --epochs
        with pytest.raises(SystemExit) as stopped:
            train_classifier.main(argv)
        assert stopped.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"


def test_training_logs_quality_metrics(trained):
    events = EventAccumulator(str(trained["cdcgan"] / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"val/fid", "val/kid", "val/modes", "val/label_acc", "val/intra_fid"} <= tags
    fid = events.Scalars("val/fid")
    assert [e.step for e in fid] == [8] and fid[0].value > 0
    best = list((trained["cdcgan"] / "checkpoints").glob("epoch00-fid*.ckpt"))
    assert len(best) == 1


def test_the_metrics_a_callback_may_monitor_are_the_ones_a_run_logs(trained):
    """training.check_monitors refuses, before a run, a monitor (or optimized_metric) outside the names the
    module and the quality callback say they log: those must be exactly what a run writes (Lightning's `step`
    aside)."""
    module = instantiate(compose_train("cdcgan").model)  # the trained run's model: conditional, mode-seeking
    events = EventAccumulator(str(trained["cdcgan"] / "tb"))
    events.Reload()
    written = {tag for tag in events.Tags()["scalars"] if not tag.startswith("hparams/")}
    assert written == (module.metric_names() | QualityMetrics.metric_names(conditional=True)) - {"step"}


def test_a_self_conditioned_run_scores_how_purely_each_cluster_draws_one_digit(trained):
    """dcgan's clusters are its codes: its runs log val/code_purity, and evaluate --per-digit gives a row per
    cluster (a cluster that holds no training digit: no digit, no purity)."""
    events = EventAccumulator(str(trained["dcgan"] / "tb"))
    events.Reload()
    assert "val/code_purity" in events.Tags()["scalars"] and 0 < events.Scalars("val/code_purity")[-1].value <= 1
    ckpt = trained["dcgan"] / "checkpoints" / "last.ckpt"
    metrics = evaluate_main([str(ckpt), "--per-digit", "n=300", f"data={DATA}", "kid_subset_size=100"])
    per_code = metrics["per_code"]
    assert all(len(values) == 30 for values in per_code.values()) and sum(per_code["share"]) == pytest.approx(1)
    drawn = [share > 0 for share in per_code["share"]]
    assert sum(p * s for p, s, d in zip(per_code["purity"], per_code["share"], drawn) if d) == \
        pytest.approx(metrics["code_purity"])
    assert all(d == (p == p) == (digit == digit) for d, p, digit in zip(drawn, per_code["purity"], per_code["digit"]))
    assert [type(digit) for digit, d in zip(per_code["digit"], drawn) if d] == [int] * sum(drawn)


def test_an_infogan_run_logs_and_evaluate_prints_its_code_purity(infogan_ckpt, capsys):
    """A model trained with InfoGAN codes logs val/code_purity, compare shows it, and evaluate scores it."""
    run_dir = infogan_ckpt.parents[1]
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    written = {tag for tag in events.Tags()["scalars"] if not tag.startswith("hparams/")}
    module = instantiate(compose_train("gan", ["model.generator.latent_codes=4"]).model)
    assert written == (module.metric_names() | QualityMetrics.metric_names(False, codes=4)) - {"step"}
    assert "val/code_purity" in written and 0 < events.Scalars("val/code_purity")[-1].value <= 1
    assert compare([run_dir]).splitlines()[0].endswith(
        "| last val/fid | last val/code_purity | last val/precision | last val/recall | last val/modes |")
    metrics = evaluate_main([str(infogan_ckpt), "--floor", "--per-digit", "n=300", f"data={DATA}", "kid_subset_size=100"])
    assert set(metrics) == {*METRICS, "code_purity", "fid_x_floor", "floor", "per_digit", "per_code"}
    assert "code_purity" not in metrics["floor"] and 0 < metrics["code_purity"] <= 1
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.split()[:1] == ["code_purity"])
    assert row.split() == ["code_purity", f"{metrics['code_purity']:.4f}", "–"]  # real digits have no codes
    # Code by code: the digit each draws most, how purely, and how often; together, the code purity.
    per_code = metrics["per_code"]
    assert set(per_code) == {"digit", "purity", "share"} and all(len(v) == 4 for v in per_code.values())
    assert sum(per_code["share"]) == pytest.approx(1)
    assert sum(p * s for p, s in zip(per_code["purity"], per_code["share"])) == pytest.approx(metrics["code_purity"])
    start = out.index(next(line for line in out if line.split()[:1] == ["code"]))
    assert [line.split() for line in out[start : start + 5]] == [["code", "digit", "purity", "share"]] + [
        [str(c), str(per_code["digit"][c]), f"{per_code['purity'][c]:.4f}", f"{per_code['share'][c]:.4f}"] for c in range(4)]


def _gan_run(tmp_path, *overrides: str, resume: bool = False):
    """A tiny gan run of whole epochs (4 batches, 8 steps each), or resumed from its last.ckpt: its trainer, once fitted."""
    resumed = ["ckpt_path=last"] if resume else []  # build() refuses a fresh run into a folder holding one
    cfg = compose_train("gan", ["trainer.max_steps=-1", *overrides, *resumed], output_dir=tmp_path)
    datamodule, module, trainer = build(cfg, resuming=resume)  # as train() builds it
    last = tmp_path / "checkpoints" / "last.ckpt"
    trainer.fit(module, datamodule=datamodule, ckpt_path=last if resume else None, weights_only=True)
    return trainer


def test_validating_every_other_epoch_scores_and_keeps_the_best_on_those_epochs(tmp_path):
    """Scoring less often than every epoch is validating less often: val/fid comes with each validation,
    and the best checkpoint, which monitors it, saves then. (A schedule of the metrics' own,
    `callbacks.quality.every_n_epochs`, crashed the best checkpoint at the first unscored epoch's end.)"""
    _gan_run(tmp_path, "trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2")
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("val/fid")] == [16]  # the second epoch's end, not the first's or third's
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert len(names) == 2 and names[0].startswith("epoch01-fid") and names[1] == "last.ckpt"
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2


def test_early_stop_ends_the_run_once_val_fid_stalls_and_says_why(tmp_path):
    """callbacks=early_stop: no value can beat the first by min_delta=1e6, so the run stops after one
    more validation (patience 1), at epoch 2 of 5, with its checkpoints, and its closing lines say so."""
    trainer = _gan_run(tmp_path, "callbacks=early_stop", "trainer.max_epochs=5",
                       "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1e6")
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (1, 16)
    assert len(list((tmp_path / "checkpoints").glob("epoch00-fid*.ckpt"))) == 1
    summary = run_summary(trainer, tmp_path, {}, 0.0)
    assert re.search(r"\n  stopped early: +after epoch 2: Monitored metric val/fid did not improve in the last 1 "
                     r"records\. Best score: [0-9.]+\.\n", summary), summary

    # Resumed with more patience, 3: the restored count of 1 validation without a new best reaches 3 at the
    # fourth epoch's end, and it stops there (with the patience of 1 Lightning restores, after the third).
    trainer = _gan_run(tmp_path, "callbacks=early_stop", "trainer.max_epochs=5", "callbacks.early_stopping.patience=3",
                       "callbacks.early_stopping.min_delta=1e6", resume=True)
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 3
    assert "stopped early: after epoch 4:" in run_summary(trainer, tmp_path, {}, 0.0)
    # Resumed with every value a new best (min_delta -1e6), it trains to its last epoch: the old stop is not news.
    trainer = _gan_run(tmp_path, "callbacks=early_stop", "trainer.max_epochs=6", "callbacks.early_stopping.min_delta=-1e6",
                       resume=True)
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 5
    assert "stopped early" not in run_summary(trainer, tmp_path, {}, 0.0)


def test_early_stop_waits_for_a_validation_and_is_refused_without_any(tmp_path):
    """max_steps within the first epoch: Lightning's check at the epoch's end found no val/fid yet and raised,
    and the run's training was lost (no last.ckpt). With validation off it could never stop."""
    _gan_run(tmp_path, "callbacks=early_stop", "trainer.max_steps=4")  # 2 of the epoch's 4 batches
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    with pytest.raises(ConfigError, match=r"^callbacks.early_stopping is not allowed with trainer.limit_val_batches=0: "
                                          r"it stops on val/fid, which only a validation logs$"):
        build(compose_train("gan", ["callbacks=early_stop", "trainer.limit_val_batches=0"], output_dir=tmp_path / "off"))


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A file of (random) Inception-v3 weights in torch-fidelity's layout: the real ones cannot be downloaded here."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity
    from torchmetrics.image.fid import NoTrainInceptionV3

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        net = NoTrainInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "weights-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_inception_backbone_computes_fid_on_2048_features(inception_weights, test_split):
    images, labels = test_split
    meter = build_meter(False, kid_subset_size=10, backbone=distance_backbone("inception", str(inception_weights)))
    meter.update_real(images[:16].unsqueeze(1), labels[:16])
    meter.update_fake(images[:16].unsqueeze(1))
    same = meter.compute()
    assert meter.fid.real_features_sum.shape == (2048,) and meter.kid.real_features[0].shape == (16, 2048)
    meter.reset_fake()
    meter.update_fake(torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8))
    noise = meter.compute()
    assert abs(same["fid"]) < 1e-2 * noise["fid"]
    assert same["confidence"] > 0.95  # the digit metrics still read the classifier


def test_inception_backbone_without_its_pieces_says_what_to_do(monkeypatch, tmp_path):
    import gan_digits.metrics.inception as inception

    with pytest.raises(UserInputError, match=r"metrics.backbone='inceptoin' is not allowed: expected one of classifier, inception"):
        distance_backbone("inceptoin")
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserInputError, match=r"needs torch-fidelity: pip install -e \"\.\[inception\]\""):
        distance_backbone("inception")
    monkeypatch.undo()

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(UserInputError, match=r"cannot read the Inception weights \(the download from https://.*name resolution.*metrics.inception_weights=<file>"):
        distance_backbone("inception")
    corrupt = tmp_path / "inception.pth"
    corrupt.write_bytes(b"not a weights file")
    with pytest.raises(UserInputError, match=rf"metrics.inception_weights={corrupt}"):
        distance_backbone("inception", str(corrupt))
    # evaluate's settings, as it takes them (they were named metrics.backbone, metrics.inception_weights there too)
    with pytest.raises(UserInputError, match=rf"^backbone=inception: cannot read the Inception weights \(inception_weights="
                                             rf"{corrupt}\): .* pass inception_weights=<file>, or use backbone=classifier$"):
        distance_backbone("inception", str(corrupt), prefix="")
    for i, held in enumerate(({"fc.weight": torch.zeros(2)}, torch.zeros(3))):  # another network's tensors; no mapping
        torch.save(held, tmp_path / f"other{i}.pth")  # were load_state_dict's errors: a 500-line list of the keys, a TypeError
        with pytest.raises(UserInputError, match=rf"^backbone=inception: cannot read the Inception weights \(inception_weights="
                                                 rf"{tmp_path / f'other{i}.pth'}\): it does not hold Inception-v3's tensors, "
                                                 rf"which weights-inception-2015-12-05-6726825d.pth does\. Download that file"):
            distance_backbone("inception", str(tmp_path / f"other{i}.pth"), prefix="")


def _ranks_scores(rank: int, init: str, out: str) -> None:
    """Rank `rank` of 2 (gloo): its stride of real and generated digits, scored collectively, saved to `out`."""
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    images, labels = load_split(DATA, "test")
    meter = build_meter(conditional=False, kid_subset_size=100)
    add_real_test_digits(meter, images, labels, rank, 2, limit=600)
    meter.update_fake(images[1000:1600][rank::2].unsqueeze(1))
    torch.save(meter.compute(), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_every_rank_scores_all_ranks_digits(tmp_path):
    """Under DDP each rank holds its share of the digits; precision and recall, like FID, are of all of them."""
    torch.multiprocessing.spawn(_ranks_scores, args=(f"file://{tmp_path}/rendezvous", str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    images, labels = load_split(DATA, "test")
    alone = build_meter(conditional=False, kid_subset_size=100)
    add_real_test_digits(alone, images, labels, limit=600)
    alone.update_fake(images[1000:1600].unsqueeze(1))
    expected = alone.compute()
    for scores in ranks:
        assert scores.keys() == expected.keys()
        for name in ("fid", "precision", "recall", "modes"):
            assert scores[name] == pytest.approx(expected[name], rel=1e-4), name
