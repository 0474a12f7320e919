"""Train the feature classifier: `python -m gan_digits.metrics.train_classifier --data ../shared/data`.

Seeded and deterministic on CPU. Writes the weights (a state dict) to `--out`, ./classifier.pt unless said
otherwise, and prints the test accuracy; docs/metrics.md records the recipe and the result. The shipped
weights, which every FID here is computed with, are replaced only when named:
`--out gan_digits/metrics/classifier.pt`.
"""

import time

import torch
import torch.nn.functional as F

from gan_digits.checks import check_int, check_output, report_user_errors
from gan_digits.command_line import KeyValueParser
from gan_digits.data import load_split
from gan_digits.data.idx import SPLIT_SIZES
from gan_digits.metrics.classifier import WEIGHTS, DigitClassifier


def shift(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translations of up to `max_shift` pixels: the one augmentation digits need."""
    padded = F.pad(images, (max_shift,) * 4)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return padded[:, :, dy : dy + 28, dx : dx + 28]


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    predictions = torch.cat([model(images[i : i + 1000].unsqueeze(1)).argmax(1) for i in range(0, len(images), 1000)])
    return (predictions == labels).float().mean().item()


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = KeyValueParser(prog="python -m gan_digits.metrics.train_classifier", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data", help="folder holding MNIST/raw/")
    parser.add_argument("--out", default="classifier.pt", help=f"where to write them (the shipped ones: {WEIGHTS})")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    check_int("epochs", args.epochs, 1)  # before any work: the schedule needs a step
    check_int("batch_size", args.batch_size, 1, SPLIT_SIZES["train"])
    check_output(args.out, (".pt",))

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_images, train_labels = load_split(args.data, "train")
    test_images, test_labels = load_split(args.data, "test")
    model = DigitClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(train_images) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_images), generator=generator)
        for i in range(len(train_images) // args.batch_size):
            index = order[i * args.batch_size : (i + 1) * args.batch_size]
            images = shift(train_images[index].unsqueeze(1), generator)
            loss = F.cross_entropy(model(images), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}: test accuracy {accuracy(model, test_images, test_labels):.4f} "
              f"({time.perf_counter() - start:.0f} s)")
    torch.save(model.state_dict(), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
