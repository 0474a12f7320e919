"""Every model, composed from the real config, keeps the contract G(z, y=None) and D(x, y=None)."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import MODELS, ROOT, compose_train
from gan_digits.checks import ConfigError
from gan_digits.checks import instantiate as instantiate_checked
from gan_digits.module import GANModule


@pytest.fixture(params=[*MODELS, "dcgan_tf", "cdcgan_tf"])
def module(request) -> GANModule:
    return instantiate(compose_train(request.param).model)


def test_config_composes_with_defaults_for_every_model(module):
    assert module.latent_dim == 100
    assert module.conditional == (module.generator.num_classes == 10)
    assert module.generator.latent_codes is None and module.discriminator.code_head is None
    # The lean DCGANs self-condition by default (docs/quality.md): dcgan on 30 manifold clusters,
    # cdcgan on 3 styles within each digit.
    lean = type(module.generator).__name__ == "DCGANGenerator"
    expected = (3 if module.conditional else 30) if lean else None
    assert module.generator.clusters == module.discriminator.clusters == expected


@pytest.mark.parametrize("experiment", sorted(path.stem for path in (ROOT / "conf" / "experiment").glob("*.yaml")))
@pytest.mark.parametrize("model", [*MODELS, "dcgan_tf", "cdcgan_tf"])
def test_every_experiment_sets_its_recipe_over_every_models_own_and_builds(model, experiment):
    """A recipe composed before the model's file would be overridden by it (a dcgan's 4e-4 over classic's 2e-4)."""
    recipe = OmegaConf.load(ROOT / "conf" / "experiment" / f"{experiment}.yaml")
    cfg = compose_train(model, [f"experiment={experiment}"])
    merged = OmegaConf.merge(compose_train(model).model, recipe.model)
    assert OmegaConf.to_container(cfg.model) == OmegaConf.to_container(merged)  # interpolations as written
    module = instantiate(cfg.model)  # the values hold for this model too
    assert type(module.loss).__name__ == cfg.model.loss._target_.rsplit(".", 1)[1]
    assert (module.generator_ema is None) == (cfg.model.ema_decay is None)


def test_generator_and_discriminator_keep_the_contract(module):
    y = torch.arange(6) % 10 if module.conditional else None
    images = module.generator(torch.randn(6, 100), y)
    assert images.shape == (6, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert module.discriminator(images, y).shape == (6, 1)


def test_labels_are_required_exactly_when_conditional(module):
    z, x = torch.randn(2, 100), torch.zeros(2, 1, 28, 28)
    if module.conditional:
        with pytest.raises(ValueError, match="conditional: pass y"):
            module.generator(z)
        with pytest.raises(ValueError, match="conditional: pass y"):
            module.discriminator(x)
    else:
        with pytest.raises(ValueError, match="unconditional: call it with y=None"):
            module.generator(z, torch.zeros(2, dtype=torch.long))


def test_wrong_noise_size_is_named():
    module = instantiate(compose_train("dcgan").model)
    with pytest.raises(ValueError, match=r"noise z must have shape \(B, 100\), got \(2, 64\)"):
        module.generator(torch.randn(2, 64))


def test_mlp_hidden_as_one_number_is_one_layer():
    """`model.generator.hidden=512`, as dcgan's D head takes its one layer (was "'int' object is not iterable")."""
    from gan_digits.nets.mlp import MLPDiscriminator, MLPGenerator

    generator, discriminator = MLPGenerator(hidden=128), MLPDiscriminator(hidden=64)
    assert [m.out_features for m in generator.body if isinstance(m, torch.nn.Linear)] == [128, 784]
    assert [m.out_features for m in discriminator.features if isinstance(m, torch.nn.Linear)] == [64]
    assert generator(torch.randn(3, 100)).shape == (3, 1, 28, 28) and discriminator(torch.zeros(3, 1, 28, 28)).shape == (3, 1)
    with pytest.raises(ConfigError, match=r"^model.generator.hidden=1.5 is not allowed: expected an integer >= 1 \(one "
                                          r"layer's width, or a list of widths: \[256,512\]\)$"):
        MLPGenerator(hidden=1.5)


def test_dcgan_initialisation():
    module = instantiate(compose_train("dcgan", ["model.generator.width=64", "model.discriminator.width=64"]).model)
    conv = module.discriminator.features[2]
    bn = module.generator.body[2]
    assert abs(conv.weight.std().item() - 0.02) < 0.002 and conv.bias.abs().max() == 0
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and abs(bn.weight.std().item() - 0.02) < 0.01


def test_spectral_norm_discriminator_bounds_its_layers():
    module = instantiate(compose_train("cdcgan", ["model.discriminator.spectral_norm=true"]).model)
    conv = module.discriminator.features[0]
    original = conv.parametrizations.weight.original
    assert torch.linalg.matrix_norm(original.detach().flatten(1), ord=2) < 0.5  # DCGAN init: small
    for _ in range(500):  # one power iteration per training-mode call
        conv(torch.zeros(1, 1, 28, 28))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_latent_code_is_read_off_the_noise_and_back_from_the_image():
    module = instantiate(compose_train("dcgan", ["model.generator.latent_codes=10", "model.generator.clusters=null"]).model)
    G, D = module.generator, module.discriminator
    codes = G.code(torch.randn(20_000, 100, generator=torch.Generator().manual_seed(0)))
    assert ((torch.bincount(codes, minlength=10) / 20_000 - 0.1).abs() < 0.01).all()  # uniform
    z = torch.randn(4, 100)
    swapped = z.clone()
    swapped[:, :10] = swapped[:, :10].roll(1, dims=1)  # same values, another argmax
    G.eval()
    assert not torch.allclose(G(z), G(swapped))
    logits, code_logits = D.score(G(z))
    assert logits.shape == (4, 1) and code_logits.shape == (4, 10)
    assert torch.equal(D(G(z)), logits)
    # The sample grid: one row of 8 per code, from noise that differs from plain N(0, 1) draws only by a swap.
    assert torch.equal(G.code(module.fixed_z), torch.arange(10).repeat_interleave(8))


def test_latent_code_misconfigurations_are_named():
    cfg = compose_train("dcgan", ["model.generator.latent_codes=10", "model.discriminator.latent_codes=5",
                                  "model.generator.clusters=null"])
    with pytest.raises(ConfigError, match="model.generator.latent_codes=10 but model.discriminator.latent_codes=5"):
        instantiate_checked(cfg.model)
    with pytest.raises(ConfigError, match="latent_codes=10 with num_classes=10, clusters=3: InfoGAN's code is for an unconditional model"):
        instantiate_checked(compose_train("cdcgan", ["model.generator.latent_codes=10"]).model)
    with pytest.raises(ConfigError, match=r"model.generator.latent_codes=200 is not allowed: expected an integer from 2 to 100"):
        instantiate_checked(compose_train("dcgan", ["model.generator.latent_codes=200"]).model)
    with pytest.raises(ConfigError, match=r"^model.generator.num_classes=null but model.discriminator.num_classes=10: "):
        instantiate_checked(compose_train("cdcgan", ["model.generator.num_classes=null"]).model)  # said None


def test_a_network_outside_the_contract_is_named(monkeypatch):
    """A plain nn.Module (the callbacks, metrics and sampler talk to the contract's classes alone) failed with an
    AttributeError, `num_classes`."""
    import gan_digits.nets.mlp

    monkeypatch.setattr(gan_digits.nets.mlp, "PlainNet", type("PlainNet", (torch.nn.Module,), {
        "__init__": lambda self, **config: torch.nn.Module.__init__(self)}), raising=False)
    cfg = compose_train("gan", ["model.discriminator._target_=gan_digits.nets.mlp.PlainNet"])
    with pytest.raises(ConfigError, match=r"^model.discriminator builds a PlainNet, which is not allowed: expected a "
                                          r"subclass of gan_digits.nets.Discriminator \(README: Your own networks\)$"):
        instantiate_checked(cfg.model)


def test_bad_module_settings_are_named_at_start_up():
    for value, why in (("abc", r"'str' object is not callable"),
                       ("{_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,gamma:0.5}",
                        r"torch.optim.lr_scheduler.StepLR\(gamma=0.5\) .*missing 1 required positional argument: 'step_size'"),
                       ("{_target_:torch.optim.lr_scheduler.ReduceLROnPlateau,_partial_:true}",  # failed at the 1st epoch's end
                        r"torch.optim.lr_scheduler.ReduceLROnPlateau\(\) .*it steps on a metric"),
                       # ... a traceback at the first epoch's end, and a rate below zero, taken (training uphill):
                       ("{_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,step_size:abc}",
                        r"StepLR\(step_size='abc'\) is not allowed \(at its first step: unsupported operand type\(s\) for %"),
                       ("{_target_:torch.optim.lr_scheduler.ExponentialLR,_partial_:true,gamma:-0.5}",
                        r"ExponentialLR\(gamma=-0.5\) is not allowed \(after its first step the learning rate is -0.5 "
                        r"times the optimizer's: expected >= 0\)")):
        with pytest.raises(ConfigError, match=rf"model.scheduler=.*{why}.*: expected null or a torch scheduler"):
            instantiate_checked(compose_train("cdcgan", [f"model.scheduler={value}"]).model)
    with pytest.raises(ConfigError, match=r"model.cuda_graph='maybe' is not allowed: expected one of true, false"):
        instantiate_checked(compose_train("cdcgan", ["model.cuda_graph=maybe"]).model)
    with pytest.raises(ConfigError, match=r"model.diversity_weight=-1 is not allowed: expected a number >= 0 \(0 = off\)"):
        instantiate_checked(compose_train("cdcgan", ["model.diversity_weight=-1"]).model)
    five_digits = ["model.generator.num_classes=5", "model.discriminator.num_classes=5"]  # an IndexError at the 1st batch
    with pytest.raises(ConfigError, match=r"model.generator.num_classes=5 is not allowed: expected 10 \(MNIST's digits\), or null"):
        instantiate_checked(compose_train("cdcgan", five_digits).model)


def test_kmeans_finds_separated_groups_and_the_code_follows_their_sizes():
    from gan_digits.nets.clusters import kmeans, nearest

    rng = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(300, 784, generator=rng) * 0.1 + c for c in (-0.5, 0.0, 0.5)])
    centroids = kmeans(points, 3)
    assert sorted(centroids.mean(1).round(decimals=1).tolist()) == [-0.5, 0.0, 0.5]
    assert sorted(torch.bincount(nearest(points, centroids)).tolist()) == [300, 300, 300]

    module = instantiate(compose_train("dcgan", ["model.generator.clusters=3", "model.discriminator.fine_clusters=null"]).model)
    G, D = module.generator, module.discriminator
    G.set_cluster_sizes(torch.tensor([[600, 300, 100]]))
    codes = G.cluster(torch.randn(20_000, 100, generator=rng))
    assert ((torch.bincount(codes, minlength=3) / 20_000 - torch.tensor([0.6, 0.3, 0.1])).abs() < 0.015).all()
    # Any number of clusters, more than the noise has values too: the draw reads one of them.
    many = instantiate(compose_train("dcgan", ["model.generator.clusters=300", "model.discriminator.fine_clusters=null"]).model)
    many = many.generator
    assert many.cluster(torch.randn(20_000, 100, generator=rng)).unique().tolist() == list(range(300))
    # D(x) scores an image against its nearest cluster; D(x, y) against the cluster G drew it from.
    D.set_clusters(centroids[None], torch.arange(3)[None])
    x = points[::100].view(-1, 1, 28, 28)
    D.eval()
    assert torch.equal(D.cluster_of(x), nearest(x, centroids))
    assert torch.equal(D(x), D.score(x, cluster=nearest(x, centroids))[0])
    assert not torch.equal(D(x), D.score(x, cluster=(nearest(x, centroids) + 1) % 3)[0])


def test_a_cluster_is_asked_for_by_moving_the_noise_into_its_slice():
    G = instantiate(compose_train("dcgan", ["model.generator.clusters=4",
                                            "model.discriminator.fine_clusters=null"]).model).generator
    G.set_cluster_sizes(torch.tensor([[600, 0, 300, 100]]))  # cluster 1 holds no training digit
    assert G.codes == 4 and G.drawn_codes() == [0, 2, 3]
    z = torch.randn(5000, 100, generator=torch.Generator().manual_seed(0))
    for k in G.drawn_codes():
        moved = G.with_code(z, torch.full((len(z),), k))
        assert (G.cluster(moved) == k).all()
        assert torch.equal(moved[:, 1:], z[:, 1:])  # the same noise otherwise
        assert (moved[z[:, 0].argsort(), 0].diff() >= 0).all()  # each at the same place within the slice
    # Codes are what can be asked of G beyond a digit: InfoGAN's, or an unconditional model's clusters.
    infogan = ["model.generator.latent_codes=10", "model.generator.clusters=null"]
    assert instantiate(compose_train("dcgan", infogan).model).generator.codes == 10
    assert instantiate(compose_train("cdcgan").model).generator.codes is None  # its clusters: styles of a digit
    assert instantiate(compose_train("gan").model).generator.codes is None


def test_manifold_clusters_follow_connected_shapes_that_kmeans_cuts_across():
    """Two concentric rings: k-means halves the plane; the small clusters, joined where the data
    links them, give one cluster per ring. D then reads an image's cluster off its nearest centroid."""
    from gan_digits.nets.clusters import kmeans, manifold_clusters, nearest

    rng = torch.Generator().manual_seed(0)
    angle = torch.rand(4000, generator=rng) * 2 * torch.pi
    ring = torch.arange(4000) % 2
    radius = 1.0 + 2.0 * ring + 0.05 * torch.randn(4000, generator=rng)
    points = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)

    def purity(assigned):  # the share of points in their cluster's majority ring
        return sum(torch.bincount(ring[assigned == c], minlength=2).max().item() for c in range(2)) / len(ring)

    assert purity(nearest(points, kmeans(points, 2))) < 0.75
    centroids, members = manifold_clusters(points, 2, fine=40)
    assert centroids.shape == (40, 2) and sorted(members.unique().tolist()) == [0, 1]
    assert purity(members[nearest(points, centroids)]) == 1.0

    module = instantiate(compose_train("dcgan", ["model.generator.clusters=2", "model.discriminator.fine_clusters=3"]).model)
    D = module.discriminator
    assert D.centroids.shape == (1, 3, 784) and D.members.shape == (1, 3)
    D.set_clusters(torch.stack([torch.full((784,), v) for v in (-1.0, 0.0, 1.0)])[None], torch.tensor([[0, 1, 0]]))
    x = torch.stack([torch.full((1, 28, 28), v) for v in (-0.9, 0.1, 0.8)])
    assert D.cluster_of(x).tolist() == [0, 1, 0]


def test_conditional_clusters_are_styles_within_the_digit_asked_for():
    module = instantiate(compose_train("cdcgan", ["model.generator.clusters=2"]).model)
    G, D = module.generator, module.discriminator
    assert G.noise.embed.num_embeddings == 20 and D.head.embed.num_embeddings == 20
    G.set_cluster_sizes(torch.tensor([[1, 0]] * 5 + [[0, 1]] * 5))  # digits 0-4: style 0 only; 5-9: style 1
    y = torch.arange(10).repeat(100)
    assert torch.equal(G.cluster(torch.randn(1000, 100), y), 2 * y + (y >= 5))
    centroids = torch.stack([torch.full((2, 784), -1.0), torch.full((2, 784), 1.0)] * 5)
    centroids[:, 1] *= -1  # every digit: style 0 near one flat image, style 1 near the other
    D.set_clusters(centroids, torch.arange(2).repeat(10, 1))
    x = torch.ones(4, 1, 28, 28)
    assert torch.equal(D.cluster_of(x, torch.tensor([0, 1, 2, 9])), torch.tensor([0 * 2 + 1, 1 * 2 + 0, 2 * 2 + 1, 9 * 2 + 0]))


def test_nearest_centroid_is_found_in_float32_inside_bf16_autocast():
    from gan_digits.nets.clusters import nearest

    centroids = torch.rand(2, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1
    share = 0.5 + 0.001 * torch.linspace(-1, 1, 64)[:, None]  # just either side of halfway between them
    points = share * centroids[0] + (1 - share) * centroids[1]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as training runs at bf16-mixed
        found = nearest(points, centroids)
    assert found.tolist() == [1] * 32 + [0] * 32


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_projection_head_scores_features_plus_the_labels_embedding(spectral_norm):
    from gan_digits.nets.conditioning import ProjectionHead

    head = ProjectionHead(12, 5, spectral_norm).eval()  # eval: spectral norm's weights stay put between reads
    h, y = torch.randn(7, 12), torch.tensor([0, 4, 2, 2, 1, 3, 0])
    expected = h @ head.linear.weight.T + head.linear.bias + (head.embed.weight[y] * h).sum(1, keepdim=True)
    assert torch.allclose(head(h, y), expected, atol=1e-6)


def test_too_few_digits_for_the_clusters_are_named_before_anything_is_written(tmp_path):
    """The clusters are fitted in fit, once the run's logger has written its folder: the run left it behind."""
    from gan_digits.training import build

    with pytest.raises(ConfigError, match=r"^model.generator.clusters=3 is more than the \d training images of digit \d: "
                                          r"lower it, or train on more digits \(data.subset\)$"):
        build(compose_train("cdcgan", ["data.subset=24", "data.batch_size=8"], output_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_cluster_misconfigurations_are_named():
    from gan_digits.nets.clusters import fit_clusters

    with pytest.raises(ConfigError, match=r"model.generator.latent_codes=10 with num_classes=null, clusters=5: InfoGAN's "
                                          r"code is for an unconditional model without clusters: set model.generator.clusters=null"):
        instantiate_checked(compose_train("dcgan", ["model.generator.clusters=5", "model.generator.latent_codes=10"]).model)
    with pytest.raises(ConfigError, match=r"model.generator.clusters=1 is not allowed: expected an integer >= 2"):
        instantiate_checked(compose_train("dcgan", ["model.generator.clusters=1"]).model)
    with pytest.raises(ConfigError, match="model.generator.clusters=5 is more than the 3 training images of digit 1: lower it"):
        fit_clusters(torch.zeros(9, 28, 28, dtype=torch.uint8), 5, torch.tensor([0] * 6 + [1] * 3), 2)
    with pytest.raises(ConfigError, match="model.discriminator.fine_clusters=40 is more than the 9 training digits: lower it"):
        fit_clusters(torch.zeros(9, 28, 28, dtype=torch.uint8), 5, fine=40)
    with pytest.raises(ConfigError, match=r"model.discriminator.fine_clusters=20 is not allowed: expected an integer >= 21"):
        instantiate_checked(compose_train("dcgan", ["model.generator.clusters=20",
                                                    "model.discriminator.fine_clusters=20"]).model)
    with pytest.raises(ConfigError, match="model.generator.clusters=20 but model.discriminator.clusters=10"):
        instantiate_checked(compose_train("dcgan", ["model.generator.clusters=20", "model.discriminator.clusters=10"]).model)


def test_minibatch_std_channel_measures_the_batch_variety():
    from gan_digits.nets.minibatch_std import MinibatchStd

    same = torch.randn(1, 3, 7, 7).expand(5, 3, 7, 7)
    varied = torch.randn(5, 3, 7, 7)
    out_same, out_varied = MinibatchStd()(same), MinibatchStd()(varied)
    assert out_same.shape == (5, 4, 7, 7) and torch.equal(out_same[:, :3], same)
    assert out_same[:, 3].max() < 1e-6 and out_varied[:, 3].min() > 0.5
    module = instantiate(compose_train("dcgan", ["model.discriminator.minibatch_std=true", "model.discriminator.hidden=16"]).model)
    assert module.discriminator(torch.randn(4, 1, 28, 28)).shape == (4, 1)
    assert module.discriminator.head.linear.in_features == 16


@pytest.mark.parametrize("kernel,padding,output_padding,bias", [(4, 1, 0, True), (5, 2, 1, False)])  # dcgan, dcgan_tf
def test_fold_transposed_conv_matches_pytorchs(kernel, padding, output_padding, bias):
    """G's last layer as matmul + fold computes what nn.ConvTranspose2d computes, gradients included."""
    from torch import nn

    from gan_digits.nets.to_image import FoldConvTranspose2d

    args = dict(stride=2, padding=padding, output_padding=output_padding, bias=bias)
    reference, fold = nn.ConvTranspose2d(8, 1, kernel, **args), FoldConvTranspose2d(8, 1, kernel, **args)
    fold.load_state_dict(reference.state_dict())
    x = torch.randn(5, 8, 14, 14, requires_grad=True)
    expected, got = reference(x), fold(x)
    assert got.shape == expected.shape == (5, 1, 28, 28)
    torch.testing.assert_close(got, expected)
    grad = torch.randn_like(expected)
    (x_grad, w_grad), (fold_x_grad, fold_w_grad) = (torch.autograd.grad(out, [x, layer.weight], grad)
                                                    for out, layer in ((expected, reference), (got, fold)))
    torch.testing.assert_close(fold_x_grad, x_grad)
    torch.testing.assert_close(fold_w_grad, w_grad, rtol=1e-4, atol=1e-4)  # sums over the batch in another order
    # In x's own layout: a channels_last gradient made the backward of the ReLU before it ~10x slower.
    assert fold_x_grad.is_contiguous()


# What an AVX-512 BF16 CPU without AMX reports (the AMD EPYC Zen 4 the layers were profiled on).
NO_AMX = {"architecture": "x86_64", "avx2": True, "avx512_bf16": True}


@pytest.fixture
def cpu_report(monkeypatch):
    """Sets the CPU report conv_grads reads (which decides its layers' route), whichever CPU runs the test."""
    from gan_digits.nets import conv_grads

    return lambda capabilities: monkeypatch.setattr(conv_grads, "cpu_capabilities", lambda: capabilities)


# BF16Grad*: D's 64->128 conv and G's transposed conv (dcgan), dcgan_tf's stride-1 transposed conv and
# one with output padding, a stride that leaves rows past the kernel (13 + 2 - 3 is odd); FoldGrad: D's
# first layer (dcgan) and a stride leaving input pixels no patch reaches.
@pytest.mark.parametrize("kind,channels,kernel,args,size", [
    ("bf16", (8, 16), 4, dict(stride=2, padding=1), 14), ("bf16T", (16, 8), 4, dict(stride=2, padding=1, bias=False), 7),
    ("bf16T", (16, 8), 5, dict(stride=1, padding=2, bias=False), 7),
    ("bf16T", (8, 4), 5, dict(stride=2, padding=2, output_padding=1), 7), ("bf16", (3, 5), 3, dict(stride=2, padding=1), 13),
    ("fold", (1, 8), 4, dict(stride=2, padding=1), 28), ("fold", (2, 8), 3, dict(stride=2, padding=0), 14)])
def test_own_gradient_convolutions_match_pytorchs(cpu_report, kind, channels, kernel, args, size):
    """Each layer computes PyTorch's outputs and gradients (up to bf16 rounding), with its own backward
    where it applies: BF16Grad* under bf16 autocast on a CPU without AMX, FoldGradConv2d in bf16 and fp32."""
    from torch import nn

    from gan_digits.nets.conv_grads import BF16GradConv2d, BF16GradConvTranspose2d, FoldGradConv2d

    cpu_report(NO_AMX)

    classes = {"bf16": (nn.Conv2d, BF16GradConv2d), "bf16T": (nn.ConvTranspose2d, BF16GradConvTranspose2d),
               "fold": (nn.Conv2d, FoldGradConv2d)}[kind]
    reference, layer = (cls(*channels, kernel, **args) for cls in classes)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(6, channels[0], size, size)
    for bf16 in (True, False):
        results = []
        for module in (reference, layer):
            module.zero_grad()
            inputs = x.clone().requires_grad_()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = module(inputs)
            grad = torch.linspace(-1, 1, out.numel()).view_as(out)  # a gradient that is not the same everywhere
            out.backward(grad.to(out.dtype))
            results.append((out, inputs.grad, module.weight.grad, module.bias.grad if module.bias is not None else None))
            assert module.weight.grad.dtype == inputs.grad.dtype == torch.float32
        own = bf16 or kind == "fold"
        assert type(results[1][0].grad_fn).__name__ == ("_ConvolutionBackward" if own else "ConvolutionBackward0")
        for expected, got in zip(*results):
            if expected is None:
                assert got is None
            else:
                tolerance = dict(rtol=2e-2, atol=2e-2 * expected.abs().max().item()) if bf16 else {}
                torch.testing.assert_close(got.float(), expected.float(), **tolerance)


@pytest.mark.parametrize(("capabilities", "own"), [(NO_AMX, True), ({**NO_AMX, "amx_bf16": True}, False)])
def test_bf16_weight_gradient_route_is_left_to_onednn_on_a_cpu_with_amx(cpu_report, capabilities, own):
    """AMX's bf16 backward-weights kernel is the faster there (docs/speed.md): the layer runs PyTorch's backward."""
    from gan_digits.nets.conv_grads import BF16GradConv2d

    cpu_report(capabilities)
    layer = BF16GradConv2d(8, 16, 4, stride=2, padding=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(torch.randn(4, 8, 14, 14))
    assert type(out.grad_fn).__name__ == ("_ConvolutionBackward" if own else "ConvolutionBackward0")


@pytest.mark.parametrize("kind", ["bf16", "fold"])
def test_own_gradient_convolutions_with_a_frozen_weight_and_unsupported_arguments(cpu_report, kind):
    """With the weight frozen (D while G trains) only the input's gradient is computed; FoldGradConv2d
    leaves an input that needs no gradient (D's own step) to PyTorch; groups, dilation and other
    padding modes are named as unsupported when the layer is built."""
    from torch import nn

    from gan_digits.nets.conv_grads import BF16GradConv2d, FoldGradConv2d

    cpu_report(NO_AMX)

    own_class = {"bf16": BF16GradConv2d, "fold": FoldGradConv2d}[kind]
    reference, layer = nn.Conv2d(8, 16, 4, stride=2, padding=1), own_class(8, 16, 4, stride=2, padding=1)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(4, 8, 14, 14, requires_grad=True)
    x_grads = []
    for module in (reference, layer):
        module.requires_grad_(False)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(x)
        x_grads.append(torch.autograd.grad(out.float().square().sum(), x)[0])
        assert module.weight.grad is None and module.bias.grad is None
    torch.testing.assert_close(x_grads[1], x_grads[0], rtol=2e-2, atol=2e-2 * x_grads[0].abs().max().item())
    if kind == "fold":
        assert type(layer.requires_grad_(True)(x.detach()).grad_fn).__name__ == "ConvolutionBackward0"
    for bad in (dict(groups=2), dict(dilation=2), dict(padding_mode="reflect"), dict(padding="same")):
        with pytest.raises(ValueError, match="groups=1, dilation=1 and numeric zero padding only"):
            own_class(8, 16, 3, **bad)


def test_dcgan_discriminator_runs_channels_last_on_cpu_and_scores_as_before():
    """oneDNN's faster path is channels_last: D's features take it on a CPU, with the same logits and gradients."""
    from gan_digits.nets.contract import Discriminator

    D = instantiate(compose_train("cdcgan").model).discriminator
    layouts, grad_layouts = [], []
    for layer in D.features:
        layer.register_forward_hook(lambda layer, inputs, out: layouts.append(out.is_contiguous()))
    # The gradient the last LeakyReLU gets back from the flatten, in the layout it ran in.
    D.features[4].register_full_backward_hook(lambda layer, grad_in, grad_out: grad_layouts.append(
        grad_out[0].is_contiguous(memory_format=torch.channels_last)))
    x, y = torch.randn(6, 1, 28, 28, requires_grad=True), torch.arange(6)
    logits = D(x, y)
    # Convolution, LeakyReLU, convolution, BatchNorm, LeakyReLU in channels_last strides (a mixed-layout
    # backward is ~10x slower); flattened in the default order, which the head reads.
    assert layouts == [False, False, False, False, False, True]
    (x_grad,) = torch.autograd.grad(logits.sum(), x)
    assert grad_layouts == [True]
    layouts.clear()
    plain_logits = Discriminator.score(D, x, y)[0]  # the base class runs x as given
    assert layouts == [True] * 6
    torch.testing.assert_close(logits, plain_logits)
    torch.testing.assert_close(x_grad, torch.autograd.grad(plain_logits.sum(), x)[0])
