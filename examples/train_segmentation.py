"""Train the same small segmentation net twice, with the classic buggy augmentation and with gpuaug.

A synthetic task generated on the fly (``gpuaug.synthetic.make_scenes``: textured
background, a large ellipse, a rectangle, a thin bar and a small disc, and a void band
labelled 255), a ~60k-parameter convolutional net, identical data, seeds and step counts
for every run. The only difference between runs is the augmentation pipeline:

- ``naive``: ``gpuaug.naive.NaivePipeline`` with the three classic bugs (independent mask
  params, bilinear float mask truncated back to labels, zero padding instead of ignore);
- ``gpuaug``: ``gpuaug.Compose`` with the same ops;
- with ``--ablate``, also each bug alone, and ``void as class 0``: gpuaug, but the masks'
  void pixels (255) replaced by class 0 before augmentation, a data bug (a label
  conversion that loses the ignore value) that no augmentation can undo;
- with ``--mix cutmix|classmix|mosaic``, also ``gpuaug + <mix>``: gpuaug with that mixing
  op (``p=0.5``) after the geometric ops; the JSON reports its mIoU and the difference
  to ``gpuaug`` (``mix_effect``), whatever it is.

Validation is on un-augmented scenes, with ``gpuaug.metrics.miou`` leaving the void pixels
out. It prints a progress line at every evaluation (step, loss, mIoU, seconds).

With ``--volume`` it trains a small 3D net on synthetic volumes instead
(``gpuaug.synthetic.make_volumes``: ellipsoids and thin rods in CT-like noise, a void slab),
with nnU-Net's spatial recipe (``gpuaug.peers_volume.volume_ops``: rotation about every
axis, scale, a random patch, mirroring), twice: ``naive``, one sample at a time with the
labels resampled like the intensities (trilinear, 0 outside, rounded:
``gpuaug.peers_volume.naive_pipeline``), and ``gpuaug``; mIoU on un-augmented volumes.

With ``--data ROOT --layout voc|cityscapes|ade20k`` it trains on a dataset on disk instead
(``gpuaug.data.SegmentationFolder``, a DataLoader with ``gpuaug.data.collate``, the lists
moved with ``gpuaug.to_device``) with the ADE20K recipe at the crop size
(``gpuaug.peers.ade20k_ops``: random resize, class-aware crop with padding, flip,
photometric distortion, Normalize), augmented in the training step with ``seed=epoch`` and the dataset
indices as ``sample_ids``; the runs are ``gpuaug`` and, with ``--ablate``, ``void as
class 0`` (the naive pipeline takes only same-size batches). The classes are ``--classes``
or the largest label of the training masks + 1 (which reads every mask once). Validation
is on ``--val-split`` (the training split when that split is missing, noted in the JSON),
each image resized to the crop size, masks by nearest gather.

Usage::

    python examples/train_segmentation.py --quick --json results.json --plot curves.png
    python examples/train_segmentation.py --ablate          # full run, CUDA when present
    python examples/train_segmentation.py --quick --mix cutmix --json mix.json
    python examples/train_segmentation.py --quick --volume --json volumes.json
    python examples/train_segmentation.py --data VOCdevkit/VOC2012 --layout voc --size 256 --ablate
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

import gpuaug
from gpuaug import metrics, peers, peers_volume
from gpuaug.data import SegmentationFolder, collate
from gpuaug.naive import BUGS, NaivePipeline
from gpuaug.synthetic import make_scenes, make_volumes

NUM_CLASSES = 5
IGNORE = 255
#: The bugs the ablation trains alone (a float mask alone changes nothing once cast back to labels).
ABLATED = ("desync", "bilinear_mask", "ignore_lost")
#: Classes of ``--volume``'s synthetic volumes (background included).
VOLUME_CLASSES = 4
#: The run whose masks lose their void label in the data, before augmentation.
VOID_RUN = "void as class 0"


class SmallSegNet(nn.Module):
    """A two-scale conv net (about 60k parameters) with a skip connection."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 24):
        super().__init__()

        def block(c_in, c_out, stride=1, dilation=1):
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )

        self.stem = nn.Sequential(block(3, width), block(width, width))
        self.down = nn.Sequential(block(width, 2 * width, stride=2), block(2 * width, 2 * width, dilation=2))
        self.head = nn.Sequential(block(3 * width, width), nn.Conv2d(width, num_classes, 1))

    def forward(self, x):
        skip = self.stem(x)
        deep = F.interpolate(self.down(skip), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat((skip, deep), dim=1))


class SmallSegNet3D(nn.Module):
    """The 3D counterpart of :class:`SmallSegNet`, on one channel of CT-like units (÷ 200)."""

    def __init__(self, num_classes: int, width: int = 12):
        super().__init__()

        def block(c_in, c_out, stride=1):
            return nn.Sequential(
                nn.Conv3d(c_in, c_out, 3, stride, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)
            )

        self.stem = nn.Sequential(block(1, width), block(width, width))
        self.down = nn.Sequential(block(width, 2 * width, stride=2), block(2 * width, 2 * width))
        self.head = nn.Sequential(block(3 * width, width), nn.Conv3d(width, num_classes, 1))

    def forward(self, x):
        skip = self.stem(x / 200.0)
        deep = F.interpolate(self.down(skip), size=skip.shape[-3:], mode="trilinear", align_corners=False)
        return self.head(torch.cat((skip, deep), dim=1))


def volume_runs(patch: int) -> dict:
    """``--volume``'s runs: the naive per-sample pipeline and gpuaug, the same recipe."""
    naive = peers_volume.naive_pipeline((patch,) * 3, IGNORE)

    def per_sample(volumes, labels, generator):
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))  # the naive draws
        outs = [naive(v.unsqueeze(0), m.unsqueeze(0)) for v, m in zip(volumes, labels, strict=True)]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    return {"naive": per_sample, "gpuaug": peers_volume.gpuaug_volume_pipeline((patch,) * 3, IGNORE)}


def volume_batches(args, device: torch.device):
    """Endless batches of synthetic volumes (B×1×S×S×S, B×S×S×S int64) and the keyword arguments."""
    data = torch.Generator(device).manual_seed(args.seed + 1)
    augment = torch.Generator(device).manual_seed(args.seed + 2)
    while True:
        volumes, labels = make_volumes(args.batch, args.source, VOLUME_CLASSES, IGNORE, data, device)
        yield volumes, labels, {"generator": augment}


def void_as_background(pipeline):
    """``pipeline`` fed masks whose void pixels (``IGNORE``) were turned into class 0 first.

    The bug of the ``void as class 0`` run: the ignore label is lost in the data (a label
    conversion, a colour-to-index mapping without the void entry), so the void regions, not
    only the padding, are trained as background. Masks are stacked tensors or lists.
    """

    def run(images, masks, **kwargs):
        if isinstance(masks, torch.Tensor):
            masks = masks.masked_fill(masks == IGNORE, 0)
        else:
            masks = [mask.masked_fill(mask == IGNORE, 0) for mask in masks]
        return pipeline(images, masks, **kwargs)

    return run


#: The mixing ops of ``--mix``, each with p = 0.5.
MIXES = {"cutmix": gpuaug.CutMix, "classmix": gpuaug.ClassMix, "mosaic": gpuaug.Mosaic}


def with_mix(ops: list, mix: str) -> list:
    """``ops`` with the ``mix`` op (:data:`MIXES`) right after the last geometric op, so the
    pixel ops after it colour the mixed output."""
    last = max(k for k, op in enumerate(ops) if isinstance(op, gpuaug.transforms.Op))
    return [*ops[: last + 1], MIXES[mix](p=0.5), *ops[last + 1 :]]


def pipelines(size: int, ablate: bool, folder: bool = False, mix: str | None = None) -> dict:
    """The runs: on synthetic scenes the naive pipeline, gpuaug and (``ablate``) each bug alone;
    on a dataset on disk (``folder``) gpuaug with the ADE20K recipe. ``ablate`` adds
    :data:`VOID_RUN`, ``mix`` a run of gpuaug with that mixing op."""
    if folder:
        ops = peers.ade20k_ops(size)
        runs = {"gpuaug": gpuaug.Compose(ops, ignore_index=IGNORE)}
    else:
        ops = [
            gpuaug.RandomResizedCrop(size, scale=(0.3, 1.0)),
            gpuaug.RandomHorizontalFlip(),
            gpuaug.RandomAffine(20, translate=(0.05, 0.05), scale=(0.9, 1.1)),
        ]
        runs = {"naive": NaivePipeline(ops, ignore_index=IGNORE), "gpuaug": gpuaug.Compose(ops, ignore_index=IGNORE)}
        if ablate:
            for bug in ABLATED:
                runs[f"only {BUGS[bug]}"] = NaivePipeline.only(bug, ops, IGNORE)
    if ablate:
        runs[VOID_RUN] = void_as_background(runs["gpuaug"])
    if mix:
        runs[f"gpuaug + {mix}"] = gpuaug.Compose(with_mix(ops, mix), ignore_index=IGNORE)
    return runs


def synthetic_batches(args, device: torch.device):
    """Endless batches of scenes (B×3×S×S float32, B×1×S×S int64) and the pipeline's keyword arguments."""
    data = torch.Generator(device).manual_seed(args.seed + 1)
    augment = torch.Generator(device).manual_seed(args.seed + 2)
    while True:
        images, masks = make_scenes(args.batch, args.source, args.source, NUM_CLASSES, IGNORE, data, device)
        yield images, masks, {"generator": augment}


def folder_batches(dataset: SegmentationFolder, args, device: torch.device):
    """Endless batches from ``dataset`` (lists of uint8 3×Hᵢ×Wᵢ and int64 Hᵢ×Wᵢ on ``device``),
    epoch after epoch in a seeded order, and the pipeline's keyword arguments (``seed=epoch``,
    the dataset indices as ``sample_ids``)."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed + 1),
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        collate_fn=collate,
    )
    for epoch in itertools.count():
        for images, masks, ids in loader:
            images, masks, ids = gpuaug.to_device((images, masks, ids), device)
            yield images, masks, {"seed": epoch, "sample_ids": ids}


def folder_val(dataset: SegmentationFolder, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item of ``dataset`` resized to ``size``×``size`` (masks by nearest gather) and normalised
    as in training: float32 N×3×S×S and int64 N×S×S on ``device``."""
    resize = gpuaug.Compose([gpuaug.Resize((size, size)), gpuaug.Normalize(peers.MEAN, peers.STD)], ignore_index=IGNORE)
    images, masks = [], []
    for start in range(0, len(dataset), 64):
        items = [dataset[i] for i in range(start, min(start + 64, len(dataset)))]
        chunk = gpuaug.to_device(([image for image, _ in items], [mask for _, mask in items]), device)
        out_images, out_masks = resize(*chunk, seed=0)
        images.append(out_images)
        masks.append(out_masks)
    return torch.cat(images), torch.cat(masks)


def count_classes(dataset: SegmentationFolder) -> int:
    """The largest label other than ``IGNORE`` in the masks of ``dataset``, + 1."""
    largest = -1
    for item in dataset:
        labels = item[1][item[1] != IGNORE]
        if labels.numel():
            largest = max(largest, int(labels.max()))
    if largest < 0:
        raise ValueError(f"{dataset.root}: every mask pixel is void ({IGNORE}); pass --classes")
    return largest + 1


def evaluate(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, num_classes: int) -> float:
    """mIoU of ``model`` on float32 N×C×… images against int64 N×… masks, void left out."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(images[k : k + 64]).argmax(1) for k in range(0, len(images), 64)])
    model.train()
    return metrics.miou(pred, masks, num_classes, IGNORE).item()


def train(
    name: str,
    pipeline,
    args,
    device: torch.device,
    val: tuple,
    batches,
    num_classes: int,
    runs_after: int = 0,
    net=SmallSegNet,
) -> dict:
    """One training run; every run sees the same data, init and augmentation seeds.

    ``batches`` yields ``(images, masks, kwargs)`` for ``pipeline(images, masks, **kwargs)``.
    Prints a line after the first step (its time and the estimate it gives) and a progress line
    at every evaluation: step, mean training loss since the last evaluation, validation mIoU,
    the seconds since the run started and the estimated time left, for this run and with the
    ``runs_after`` runs still to come. ``net(num_classes)`` builds the model (2D or 3D: the
    targets keep the masks' spatial dimensions, those of the model's input).
    """
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    model = net(num_classes).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps)
    losses, evals = [], []
    for step, (images, masks, kwargs) in zip(range(1, args.steps + 1), batches, strict=False):
        images, masks = pipeline(images, masks, **kwargs)
        # What a training loop does with whatever mask it gets: class indices, anything that is
        # not a class (an interpolated 255, say) ignored. A no-op for gpuaug's masks.
        target = masks.reshape(masks.shape[0], *masks.shape[2 - images.dim() :]).long()
        target = torch.where((target >= 0) & (target < num_classes), target, IGNORE)
        loss = F.cross_entropy(model(images), target, ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step == 1:
            print(f"{name:<28} step     1/{args.steps}  {_eta(start, step, args.steps, runs_after)}", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            evals.append((step, evaluate(model, *val, num_classes)))
            recent = losses[evals[-2][0] if len(evals) > 1 else 0 :]
            print(
                f"{name:<28} step {step:>5}/{args.steps}  loss {sum(recent) / len(recent):.3f}  "
                f"mIoU {100 * evals[-1][1]:5.1f}  {_eta(start, step, args.steps, runs_after)}",
                flush=True,
            )
    return {"loss": losses, "miou": evals, "final_miou": evals[-1][1]}


def _eta(start: float, step: int, steps: int, runs_after: int) -> str:
    """Elapsed seconds of the run, and the time left at its pace so far (this run, and all runs)."""
    elapsed = time.perf_counter() - start
    left = elapsed / step * (steps - step)
    total = left + runs_after * elapsed / step * steps
    return f"{elapsed:6.1f} s  ETA {_duration(left)} this run, {_duration(total)} all runs"


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, run in results.items():
        loss = torch.tensor(run["loss"])
        window = max(1, len(loss) // 30)
        smooth = loss.unfold(0, window, 1).mean(1) if len(loss) >= window else loss
        ax_loss.plot(range(window, window + len(smooth)), smooth, label=name)
        steps, values = zip(*run["miou"], strict=True)
        percent = [100 * v for v in values]  # the axis and the legend in one unit
        ax_miou.plot(steps, percent, marker="o", label=f"{name} ({percent[-1]:.1f} %)")
    ax_loss.set(xlabel="step", ylabel="training loss (smoothed)", yscale="log")
    ax_miou.set(xlabel="step", ylabel="validation mIoU (%)", ylim=(0, 100))
    ax_miou.legend(fontsize=8)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="300 steps on 48×48 crops (measured: 28-34 s a run on 2 cores of an AMD EPYC x86-64, torch 2.13 CPU "
        "build, the machine otherwise idle)",
    )
    parser.add_argument("--ablate", action="store_true", help="also train with each bug alone")
    parser.add_argument("--mix", choices=sorted(MIXES), help="also train gpuaug with this mixing op (p=0.5)")
    parser.add_argument("--steps", type=int, help="training steps per run (default 300 quick, 1500 full)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, help="training crop size (default 48 quick, 96 full)")
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    parser.add_argument(
        "--volume", action="store_true", help="train a 3D net on synthetic volumes, naive labels vs gpuaug"
    )
    parser.add_argument("--data", metavar="ROOT", help="train on a dataset on disk (SegmentationFolder) at ROOT")
    parser.add_argument("--layout", choices=("voc", "cityscapes", "ade20k"), default="voc", help="the layout of --data")
    parser.add_argument("--classes", type=int, help="classes of --data (default: largest training label + 1)")
    parser.add_argument("--val-split", default="val", help="the split of --data to evaluate on (default val)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for --data")
    parser.add_argument("--json", metavar="PATH", help="write the final mIoUs and the curves")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of the loss and mIoU curves")
    args = parser.parse_args(argv)
    if args.volume:
        if args.data or args.mix or args.ablate:
            parser.error("--volume: trains on synthetic volumes; --data, --mix and --ablate are for 2D scenes")
        return volume_main(args)
    args.steps = args.steps or (300 if args.quick else 1500)
    args.size = args.size or (48 if args.quick else 96)
    args.source = args.size * 4 // 3
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    summary = {}
    if args.data:
        train_set = SegmentationFolder(args.data, args.layout, "train", return_index=True)
        num_classes = args.classes or count_classes(train_set)
        try:
            val_set, summary["eval_split"] = SegmentationFolder(args.data, args.layout, args.val_split), args.val_split
        except FileNotFoundError:
            val_set, summary["eval_split"] = SegmentationFolder(args.data, args.layout, "train"), "train"
            summary["eval_note"] = f"no {args.val_split!r} split under {args.data}: evaluated on the training split"
            print(summary["eval_note"])
        val = folder_val(val_set, args.size, device)

        def batches():
            return folder_batches(train_set, args, device)

    else:
        num_classes = NUM_CLASSES
        val_generator = torch.Generator(device).manual_seed(10_000 + args.seed)
        val_images, val_masks = make_scenes(256, args.size, args.size, NUM_CLASSES, IGNORE, val_generator, device)
        val = val_images, val_masks[:, 0]

        def batches():
            return synthetic_batches(args, device)

    runs = pipelines(args.size, args.ablate, folder=bool(args.data), mix=args.mix)
    data = f"{args.data} ({len(train_set)} training images, {args.layout})" if args.data else "synthetic scenes"
    print(
        f"train_segmentation: data {data}, {num_classes} classes; {len(runs)} run{'s' * (len(runs) > 1)} "
        f"({', '.join(runs)}) of "
        f"{args.steps} steps, batch {args.batch} at {args.size}×{args.size}; device {device}",
        flush=True,
    )
    results = {}
    for k, (name, pipeline) in enumerate(runs.items()):
        start = time.perf_counter()
        results[name] = train(name, pipeline, args, device, val, batches(), num_classes, len(runs) - k - 1)
        seconds = time.perf_counter() - start
        print(f"{name:<28} final mIoU {100 * results[name]['final_miou']:5.1f}  ({seconds:.0f} s, {args.steps} steps)")
    if "naive" in results:
        summary["miou_naive"] = results["naive"]["final_miou"]
    summary |= {
        "miou_gpuaug": results["gpuaug"]["final_miou"],
        "data": args.data or "synthetic",
        "classes": num_classes,
    }
    if args.mix:
        mixed = results[f"gpuaug + {args.mix}"]["final_miou"]
        summary |= {"mix": args.mix, "miou_mix": mixed, "mix_effect": mixed - summary["miou_gpuaug"]}
    return finish(summary, results, args, device)


def volume_main(args) -> dict:
    """``--volume``: the naive per-sample pipeline and gpuaug on synthetic volumes, one 3D net each."""
    args.steps = args.steps or (150 if args.quick else 600)
    args.size = args.size or (16 if args.quick else 32)
    args.source = args.size * 3 // 2
    args.batch = min(args.batch, 4)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    val = make_volumes(16, args.size, VOLUME_CLASSES, IGNORE, torch.Generator(device).manual_seed(10_000), device)
    runs = volume_runs(args.size)
    print(
        f"train_segmentation --volume: synthetic volumes, {VOLUME_CLASSES} classes; runs {', '.join(runs)} of "
        f"{args.steps} steps, batch {args.batch}, {args.source}³ to {args.size}³ patches; device {device}",
        flush=True,
    )
    results = {}
    for k, (name, pipeline) in enumerate(runs.items()):
        batches = volume_batches(args, device)
        results[name] = train(
            name, pipeline, args, device, val, batches, VOLUME_CLASSES, len(runs) - k - 1, SmallSegNet3D
        )
        print(f"{name:<28} final mIoU {100 * results[name]['final_miou']:5.1f}")
    summary = {
        "miou_naive": results["naive"]["final_miou"],
        "miou_gpuaug": results["gpuaug"]["final_miou"],
        "data": "synthetic volumes",
        "classes": VOLUME_CLASSES,
    }
    return finish(summary, results, args, device)


def finish(summary: dict, results: dict, args, device: torch.device) -> dict:
    """The summary with the run's settings and every run's curves, written to ``--json`` and
    plotted to ``--plot`` when asked."""
    summary |= {"steps": args.steps, "batch": args.batch, "size": args.size, "device": str(device), "runs": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    if args.plot:
        plot(results, args.plot)
    return summary


if __name__ == "__main__":
    main()
