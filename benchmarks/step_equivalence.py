"""One training step of this package beside one of the reference code, on the same weights and the same real batch.

Given a local clone of the reference repository (xiaoquan-1/Med-DisSeg, ``--reference_repo``), for Stage II and for
Stage I:

1. builds the reference network (its own init, no download) and this package's network with the same weights
   (converted by :func:`meddisseg_monai.networks.weights.convert_reference_state_dict`, which also reverses the first
   convolution's input channels: the reference reads BGR, this package RGB);
2. reads a batch of real Kvasir-SEG training images the reference's way (OpenCV: BGR, rows first, ``cv2.resize``),
   augmentation off; this package gets the same pixels in RGB. Masks: thresholded at 128 for both (the reference
   feeds the bilinear-resized soft mask, this package's pipeline binary masks), the background target ``1 - mask``;
3. prints every loss term side by side (the reference's sigmoid outputs against this package's logits) and, after one
   Adam step (1e-4 on every parameter, as the reference), the largest parameter (and buffer) difference;
4. compares the two gradients tensor by tensor (relative difference ``|g - g_ref| / max(|g|, |g_ref|)`` of each
   parameter tensor: largest and median; elements whose gradient sign differs) and the parameters after one plain SGD
   step (1e-4) taken with those gradients from the same initial weights.

Why both optimisers: Adam's first step moves every element by ``lr * g / (|g| + eps)``, i.e. by ``lr * sign(g)`` for
``|g| >> eps = 1e-8``, whatever the gradient's size, so any element whose gradient sign differs between the two sides
(a gradient near zero and rounding suffice) ends ``2 lr = 2e-4`` apart; SGD's difference is ``lr |g - g_ref|``.

``--float64`` repeats everything with both networks, inputs and targets in float64: differences that are float32
rounding vanish there, real differences do not; it then also compares each side's float32 gradient with the
reference's float64 one, i.e. how far float32 rounding alone moves each side's gradient. The
reference's ``run_engine.train`` casts its batch to float32, so in float64 its Stage II step is restated from that
function (the same terms, ``reference_stage2_terms``), as Stage I always is.

The reference's Stage II step is its own ``utils.run_engine.train`` on a one-batch loader; its loss terms are computed
with its own ``DiceBCELoss`` and ``complementary_loss`` (the ``b`` weights are written out from that function).
``utils/run_engine_stage1.py`` imports torchvision, which is not installed here, so its Stage I step is restated
from that file: ``DiceBCE(p) + DiceBCE(p_aug) + BCE(p, [p_aug > .5]) + BCE(p_aug, [p > .5]) + w (L(x) + L(x_aug))``
on the reference network's outputs, with one fixed photometric augmentation shared by both sides.

This package's objective runs with ``reference_formula=True`` for the dispersive term, so that both steps compute
the same thing; its default dispersive term is printed beside for information. The reference's b weights are this
package's default (``auxiliary_weighting="reference"``).

``--masks N`` then fits the reference network ``N`` steps (its own ``train``) and compares its masks on validation
images read its way with those of the converted weights run through the 2D bundle's ``inference.json`` (Dice).

Needs the reference's own imports: ``pip install opencv-python-headless albumentations scikit-learn`` (the
``benchmark`` extra). Never downloads anything.

Usage::

    .venv/bin/python benchmarks/step_equivalence.py --reference_repo /tmp/Med-DisSeg --image_size 64 --batch_size 4
    .venv/bin/python benchmarks/step_equivalence.py --reference_repo /tmp/Med-DisSeg --image_size 64 --batch_size 4 \
        --threads 1 --float64   # also the float64 run
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from meddisseg_monai.data import DATA_ROOT_ENV  # noqa: E402
from meddisseg_monai.losses import MedDisSegLoss, MedDisSegStage1Loss  # noqa: E402
from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1  # noqa: E402
from meddisseg_monai.networks.weights import convert_reference_state_dict  # noqa: E402

REFERENCE_DISPERSIVE = {"variant": "infonce_l2", "temperature": 0.5, "reference_formula": True}
DISPERSIVE_WEIGHT = 0.2  # the reference's get_dispersive_config()
LEARNING_RATE = 1e-4


# ---------------------------------------------------------------------------------------------------------------------
# the two sides


def load_reference(repo: str) -> dict:
    """The reference's modules, imported from the clone (its ResNet-50 would download ImageNet weights: turned off)."""
    sys.path.insert(0, str(Path(repo).resolve()))
    import network.resnet as reference_resnet

    reference_resnet.resnet50.__defaults__ = (False, True)  # pretrained=False: its own (kaiming fan_out) init
    from network.model import MedDisSeg2
    from network.model_stage1 import MedDisSeg1
    from utils.metrics import DiceBCELoss

    modules = {"MedDisSeg2": MedDisSeg2, "MedDisSeg1": MedDisSeg1, "DiceBCELoss": DiceBCELoss}
    import utils.run_engine as run_engine  # needs albumentations, cv2, scikit-learn

    modules["run_engine"] = run_engine
    from network.dispersive_loss_implementation import get_dispersive_config

    modules["dispersive_config"] = get_dispersive_config()
    return modules


def with_auxiliary_outputs(cls, **kwargs):
    """This package's network returning its train-mode dict (``auxiliary_outputs=True`` where the flag exists)."""
    if "auxiliary_outputs" in inspect.signature(cls).parameters:
        kwargs["auxiliary_outputs"] = True
    return cls(**kwargs)


def total_and_terms(loss_fn, value) -> tuple[torch.Tensor, dict[str, float]]:
    """The total and the detached terms of this package's objective (a dict, or a scalar with ``last_terms``)."""
    if isinstance(value, dict):
        return value["loss"], {k: float(v) for k, v in value.items() if k != "loss"}
    return value, {k: float(v) for k, v in loss_fn.last_terms.items()}


def read_reference_way(folder: Path, ids: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as the reference's DATASET reads them (BGR, (H, W), cv2.resize, / 255), masks thresholded at 128."""
    import cv2

    images, masks = [], []
    for image_id in ids:
        image = cv2.imread(str(folder / "images" / f"{image_id}.jpg"), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(folder / "masks" / f"{image_id}.jpg"), cv2.IMREAD_GRAYSCALE)
        image = np.transpose(cv2.resize(image, (size, size)), (2, 0, 1)) / 255.0
        mask = cv2.resize(mask, (size, size))[None] >= 128
        images.append(torch.from_numpy(image).float())
        masks.append(torch.from_numpy(mask.astype(np.float32)))
    return torch.stack(images), torch.stack(masks)


def reference_stage2_terms(ref, outputs, y1, y2) -> dict[str, torch.Tensor]:
    """The terms of the reference's Stage II objective (utils/run_engine.py ``train``) on its outputs."""
    mask, fg, bg, uc, dispersive = outputs
    dice_bce = ref["DiceBCELoss"]()
    beta1 = 1 / (torch.tanh(fg.sum() / (fg.shape[2] * fg.shape[3])) + 1e-15)
    beta2 = 1 / (torch.tanh(bg.sum() / (bg.shape[2] * bg.shape[3])) + 1e-15)
    probs = F.softmax(torch.stack([fg, bg, uc], dim=1), dim=1)
    terms = {
        "mask": dice_bce(mask, y1),
        "foreground": dice_bce(fg, y1),
        "background": dice_bce(bg, y2),
        "complementary": ref["run_engine"].complementary_loss(probs[:, 0], probs[:, 1], probs[:, 2]),
        "dispersive": dispersive,
        "weight_foreground": beta1,
        "weight_background": beta2,
    }
    weight = ref["dispersive_config"].get("dispersive_loss_weight", 0.6)
    terms["total"] = (
        terms["mask"]
        + beta1 * terms["foreground"]
        + beta2 * terms["background"]
        + terms["complementary"]
        + weight * dispersive
    )
    return terms


def reference_stage1_terms(ref, outputs, outputs_augmented, y1) -> dict[str, torch.Tensor]:
    """The terms of the reference's Stage I objective (utils/run_engine_stage1.py ``train``), restated."""
    (p, dispersive), (p_aug, dispersive_aug) = outputs, outputs_augmented
    dice_bce = ref["DiceBCELoss"]()
    consistency = F.binary_cross_entropy(p, (p_aug > 0.5).to(p.dtype)) + F.binary_cross_entropy(
        p_aug, (p > 0.5).to(p.dtype)
    )
    weight = ref["dispersive_config"].get("weight", 0.2)
    terms = {
        "mask": dice_bce(p, y1),
        "mask_augmented": dice_bce(p_aug, y1),
        "consistency": consistency,
        "dispersive": dispersive,
        "dispersive_augmented": dispersive_aug,
    }
    terms["total"] = terms["mask"] + terms["mask_augmented"] + consistency + weight * (dispersive + dispersive_aug)
    return terms


# ---------------------------------------------------------------------------------------------------------------------
# comparison


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def our_gradients(ours: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().clone() for n, p in ours.named_parameters()
    }


def reference_gradients(reference: torch.nn.Module, template: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The reference network's gradients in this package's key layout (converted as its weights are)."""
    state = dict(reference.state_dict())
    for name, parameter in reference.named_parameters():
        state[name] = (parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)).detach()
    converted = convert_reference_state_dict(state, template)
    return {name: converted[name] for name, _ in template.named_parameters()}


def compare_gradients(ours: dict, reference: dict) -> dict:
    """Per parameter tensor ``|g - g_ref| / max(|g|, |g_ref|)`` (L2 norms): largest and median; sign differences."""
    relatives, sign_differs, elements = {}, 0, 0
    for name, gradient in ours.items():
        g, h = gradient.double(), reference[name].double()
        scale = max(g.norm().item(), h.norm().item())
        relatives[name] = (g - h).norm().item() / scale if scale > 0 else 0.0
        sign_differs += int((torch.sign(g) != torch.sign(h)).sum())
        elements += g.numel()
    ranked = sorted(relatives, key=relatives.get, reverse=True)
    return {
        "largest_relative": relatives[ranked[0]],
        "largest_key": ranked[0],
        "median_relative": float(np.median(list(relatives.values()))),
        "worst_5": {k: relatives[k] for k in ranked[:5]},
        "sign_differs": sign_differs,
        "elements": elements,
    }


def sgd_difference(initial: dict, ours: dict, reference: dict, lr: float) -> dict:
    """One plain SGD step (``torch.optim.SGD``) from the same weights with each side's gradients: largest difference."""
    worst = {"parameter": 0.0, "parameter_key": "", "elements_over_1e-6": 0}
    for name, start in initial.items():
        stepped = []
        for gradients in (ours, reference):
            parameter = torch.nn.Parameter(start.clone())
            parameter.grad = gradients[name].to(start.dtype).clone()
            torch.optim.SGD([parameter], lr=lr).step()
            stepped.append(parameter.detach().double())
        difference = (stepped[0] - stepped[1]).abs()
        worst["elements_over_1e-6"] += int((difference > 1e-6).sum())
        if difference.max().item() > worst["parameter"]:
            worst["parameter"], worst["parameter_key"] = difference.max().item(), name
    return worst


def largest_difference(
    ours: torch.nn.Module, reference_state: dict, template: torch.nn.Module, reference_grads: dict | None = None
) -> dict:
    """Largest absolute parameter difference (overall, and where both gradients have the same sign), and the largest
    absolute and per-tensor relative (``|b - b_ref| / |b_ref|``, L2) buffer difference (BN running statistics)."""
    converted = convert_reference_state_dict(reference_state, template)
    buffers = {name for name, _ in ours.named_buffers()}
    worst = {"parameter": 0.0, "parameter_key": "", "parameter_where_signs_agree": 0.0,
             "buffer_absolute": 0.0, "buffer_absolute_key": "", "buffer_relative": 0.0, "buffer_key": "",
             "elements_over_1e-6": 0, "elements": 0, "largest_gradient_where_over_1e-6": 0.0}  # fmt: skip
    gradients = {name: p.grad for name, p in ours.named_parameters()}
    for key, value in ours.state_dict().items():
        if not value.is_floating_point():
            continue
        expected = converted[key].double()
        difference = (value.double() - expected).abs()
        if key in buffers:
            if difference.max().item() > worst["buffer_absolute"]:
                worst["buffer_absolute"], worst["buffer_absolute_key"] = difference.max().item(), key
            relative_difference = difference.norm().item() / max(expected.norm().item(), 1e-12)
            if relative_difference > worst["buffer_relative"]:
                worst["buffer_relative"], worst["buffer_key"] = relative_difference, key
        else:
            over = difference > 1e-6
            worst["elements"] += difference.numel()
            worst["elements_over_1e-6"] += int(over.sum())
            gradient = gradients.get(key)
            if gradient is not None and over.any():
                worst["largest_gradient_where_over_1e-6"] = max(
                    worst["largest_gradient_where_over_1e-6"], gradient.abs()[over].max().item()
                )
            if gradient is not None and reference_grads is not None:
                agree = torch.sign(gradient) == torch.sign(reference_grads[key].to(gradient.dtype))
                if agree.any():
                    worst["parameter_where_signs_agree"] = max(
                        worst["parameter_where_signs_agree"], difference[agree].max().item()
                    )
            if difference.max().item() > worst["parameter"]:
                worst["parameter"], worst["parameter_key"] = difference.max().item(), key
    return worst


def print_differences(before: dict, after: dict, gradients: dict | None = None, sgd: dict | None = None) -> None:
    lr = LEARNING_RATE
    print(f"  largest parameter difference before the step: {before['parameter']:.3e}")
    if gradients is not None:
        print(f"  gradients, per parameter tensor |g - g_ref| / max(|g|, |g_ref|): largest "
              f"{gradients['largest_relative']:.3e} ({gradients['largest_key']}), median "
              f"{gradients['median_relative']:.3e}")  # fmt: skip
        print(f"  gradient elements whose sign differs: {gradients['sign_differs']} of {gradients['elements']}")
    print(f"  largest parameter difference after one Adam step: {after['parameter']:.3e} = "
          f"{after['parameter'] / lr:.3f} lr ({after['parameter_key']})")  # fmt: skip
    if gradients is not None:
        print(f"    where the two gradients have the same sign: {after['parameter_where_signs_agree']:.3e} = "
              f"{after['parameter_where_signs_agree'] / lr:.3f} lr")  # fmt: skip
    print(f"  parameter elements differing by more than 1e-6: {after['elements_over_1e-6']} of {after['elements']}; "
          f"largest |gradient| among them: {after['largest_gradient_where_over_1e-6']:.2e}")  # fmt: skip
    if sgd is not None:
        print(f"  largest parameter difference after one SGD step (lr {lr}): {sgd['parameter']:.3e} "
              f"({sgd['parameter_key']}); elements differing by more than 1e-6: "
              f"{sgd['elements_over_1e-6']}")  # fmt: skip
    print(f"  BN statistics after the step: largest absolute difference {after['buffer_absolute']:.3e} "
          f"({after['buffer_absolute_key']}); largest per-tensor relative {after['buffer_relative']:.3e} "
          f"({after['buffer_key']})")  # fmt: skip


def print_terms(title: str, reference: dict, ours: dict, names: list[str]) -> dict:
    print(f"\n{title}")
    print(f"  {'term':24s} {'reference':>16s} {'ours':>16s} {'relative diff':>14s}")
    rows = {}
    for name in names:
        r, o = float(reference[name]), float(ours[name])
        rows[name] = {"reference": r, "ours": o, "relative": relative(r, o)}
        print(f"  {name:24s} {r:16.9f} {o:16.9f} {rows[name]['relative']:14.3e}")
    return rows


def dtype_label(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def stage2(ref, x_bgr, y, seed: int, dtype: torch.dtype = torch.float32) -> dict:
    torch.manual_seed(seed)
    reference = ref["MedDisSeg2"](use_dispersive_loss=True).train()
    ours = with_auxiliary_outputs(MedDisSeg).train()
    ours.load_state_dict(convert_reference_state_dict(reference.state_dict(), ours), strict=True)
    reference.to(dtype)
    ours.to(dtype)
    x_bgr, y = x_bgr.to(dtype), y.to(dtype)
    x_rgb = x_bgr.flip(1)
    before = largest_difference(ours, reference.state_dict(), ours)
    initial = {name: p.detach().clone() for name, p in ours.named_parameters()}

    if dtype == torch.float32:
        with torch.no_grad():  # the terms, on copies (a train-mode forward updates the BN running statistics)
            reference_terms = reference_stage2_terms(ref, copy.deepcopy(reference)(x_bgr), y, 1 - y)
    loss_fn = MedDisSegLoss(dispersive=REFERENCE_DISPERSIVE, dispersive_weight=DISPERSIVE_WEIGHT)
    default_loss = MedDisSegLoss(dispersive_weight=DISPERSIVE_WEIGHT)

    # this package's step
    optimizer = torch.optim.Adam(ours.parameters(), LEARNING_RATE)
    optimizer.zero_grad()
    outputs = ours(x_rgb)
    total, our_terms = total_and_terms(loss_fn, loss_fn(outputs, y))
    our_terms["total"] = float(total)
    with torch.no_grad():
        our_terms["dispersive (default form)"] = float(default_loss.dispersive(outputs["features"]))
    total.backward()
    optimizer.step()

    # the reference's step, Adam with its two groups at 1e-4: in float32 its own utils.run_engine.train on a one-batch
    # loader; in float64 (train() casts the batch to float32) the same step restated
    groups = [{"params": [], "lr": LEARNING_RATE}, {"params": [], "lr": LEARNING_RATE}]
    for name, parameter in reference.named_parameters():
        groups[0 if name.startswith(("layer0", "layer1", "layer2", "layer3")) else 1]["params"].append(parameter)
    reference_optimizer = torch.optim.Adam(groups)
    names = ["mask", "foreground", "background", "complementary", "weight_foreground", "weight_background",
             "dispersive", "total"]  # fmt: skip
    if dtype == torch.float32:
        reference_total, _ = ref["run_engine"].train(
            reference, [(x_bgr, (y, 1 - y))], reference_optimizer, ref["DiceBCELoss"](), "cpu", ref["dispersive_config"]
        )
        reference_terms["total (its train())"] = reference_total
        our_terms["total (its train())"] = our_terms["total"]
        names.append("total (its train())")
    else:
        reference_optimizer.zero_grad()
        reference_terms = reference_stage2_terms(ref, reference(x_bgr), y, 1 - y)
        reference_terms["total"].backward()
        reference_optimizer.step()
        reference_terms = {k: float(v) for k, v in reference_terms.items()}
    rows = print_terms(f"Stage II (MedDisSeg2 vs MedDisSeg), {dtype_label(dtype)}", reference_terms, our_terms, names)
    print(f"  {'dispersive (our default)':24s} {'':16s} {our_terms['dispersive (default form)']:16.9f}")
    return {**after_the_step(reference, ours, initial, before), "terms": rows, "networks": (reference, ours)}


def after_the_step(reference, ours, initial: dict, before) -> dict:
    """Gradients, one SGD step and the parameters after the Adam step of both sides, compared and printed."""
    ours_grads, reference_grads = our_gradients(ours), reference_gradients(reference, ours)
    gradients = compare_gradients(ours_grads, reference_grads)
    sgd = sgd_difference(initial, ours_grads, reference_grads, LEARNING_RATE)
    after = largest_difference(ours, reference.state_dict(), ours, reference_grads)
    print_differences(before, after, gradients, sgd)
    return {"before": before, "after": after, "gradients": gradients, "sgd": sgd,
            "raw_gradients": (ours_grads, reference_grads)}  # fmt: skip


def stage1(ref, x_bgr, x_aug_bgr, y, seed: int, dtype: torch.dtype = torch.float32) -> dict:
    torch.manual_seed(seed)
    reference = ref["MedDisSeg1"](use_dispersive_loss=True).train()
    ours = with_auxiliary_outputs(MedDisSegStage1).train()
    ours.load_state_dict(convert_reference_state_dict(reference.state_dict(), ours), strict=True)
    reference.to(dtype)
    ours.to(dtype)
    x_bgr, x_aug_bgr, y = x_bgr.to(dtype), x_aug_bgr.to(dtype), y.to(dtype)
    before = largest_difference(ours, reference.state_dict(), ours)
    initial = {name: p.detach().clone() for name, p in ours.named_parameters()}
    loss_fn = MedDisSegStage1Loss(dispersive=REFERENCE_DISPERSIVE, dispersive_weight=DISPERSIVE_WEIGHT)

    optimizer = torch.optim.Adam(ours.parameters(), LEARNING_RATE)
    optimizer.zero_grad()
    total, our_terms = total_and_terms(loss_fn, loss_fn(ours(x_bgr.flip(1)), ours(x_aug_bgr.flip(1)), y))
    our_terms["total"] = float(total)
    total.backward()
    optimizer.step()

    reference_optimizer = torch.optim.Adam(reference.parameters(), LEARNING_RATE)
    reference_optimizer.zero_grad()
    reference_terms = reference_stage1_terms(ref, reference(x_bgr), reference(x_aug_bgr), y)
    reference_terms["total"].backward()
    reference_optimizer.step()
    names = ["mask", "mask_augmented", "consistency", "dispersive", "dispersive_augmented", "total"]
    title = f"Stage I (MedDisSeg1 vs MedDisSegStage1), {dtype_label(dtype)}"
    rows = print_terms(title, reference_terms, our_terms, names)
    return {**after_the_step(reference, ours, initial, before), "terms": rows}


def print_rounding(title: str, float32: tuple, float64: tuple) -> dict:
    """Each side's float32 gradient against the reference's float64 one: the float32 rounding of each side alone."""
    print(f"\n{title}: each side's float32 gradient against the reference's float64 gradient (its rounding alone)")
    record = {}
    for side, gradients in (("reference", float32[1]), ("ours", float32[0])):
        c = compare_gradients({k: v.double() for k, v in gradients.items()}, float64[1])
        record[side] = c
        print(f"  {side:9s}: per-tensor relative difference largest {c['largest_relative']:.3e} "
              f"({c['largest_key']}), median {c['median_relative']:.3e}; elements whose sign differs: "
              f"{c['sign_differs']} of {c['elements']}")  # fmt: skip
    return record


def photometric_view(x_bgr: torch.Tensor, seed: int) -> torch.Tensor:
    """One fixed strong photometric augmentation (this package's colour jitter), the same for both sides."""
    from meddisseg_monai.transforms import RandColorJitter

    jitter = RandColorJitter(prob=1.0, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)
    jitter.set_random_state(seed)
    return torch.stack([torch.as_tensor(jitter(image.flip(0))).flip(0) for image in x_bgr]).float()


# ---------------------------------------------------------------------------------------------------------------------
# masks of a fitted reference network through the bundle's inference


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(a, b).sum() / total


def masks(ref, folder: Path, reference, train_ids, val_ids, steps: int, batch_size: int, size: int, lr: float) -> dict:
    """Fit the reference network ``steps`` steps (its own ``train``), then compare its masks with the bundle's.

    During the fit the reference's batch-norm layers keep a cumulative average of the batch statistics
    (``momentum=None``), so that eval-mode masks after a few steps are not degenerate (with momentum 0.1 the running
    statistics are still mostly their initial values). The converted weights go through ``inference.json`` twice: as
    converted (BGR -> RGB on the first convolution) and without the colour conversion, to show what the check detects.
    Masks are compared at each image's own size (the bundle inverts its resize; the reference's probability map is
    resized with ``cv2.resize``), as binary masks at 0.5 and at each image's median reference probability (a
    threshold that always gives non-trivial masks), and as probabilities.
    """
    import cv2
    from monai.bundle import ConfigParser

    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    optimizer = torch.optim.Adam(reference.parameters(), lr)
    for step in range(steps):
        ids = [train_ids[(step * batch_size + i) % len(train_ids)] for i in range(batch_size)]
        x, y = read_reference_way(folder, ids, size)
        loss, _ = ref["run_engine"].train(
            reference, [(x, (y, 1 - y))], optimizer, ref["DiceBCELoss"](), "cpu", ref["dispersive_config"]
        )
        print(f"  fitting the reference network: step {step + 1}/{steps}, loss {loss:.4f}", flush=True)
    reference.eval()
    bundle = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
    reference_probabilities = {}
    for image_id in val_ids:
        image = cv2.imread(str(folder / "images" / f"{image_id}.jpg"), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        x = torch.from_numpy(np.transpose(cv2.resize(image, (size, size)), (2, 0, 1)) / 255.0).float()[None]
        with torch.no_grad():
            probability = reference(x)[0][0, 0].numpy()
        reference_probabilities[image_id] = cv2.resize(probability, (width, height))
    record: dict = {}
    for channel_order in ("bgr", "rgb"):
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            template = MedDisSeg()
            state = convert_reference_state_dict(reference.state_dict(), template, channel_order=channel_order)
            torch.save(state, Path(tmp) / "model.pt")
            inputs = Path(tmp) / "input"
            inputs.mkdir()
            for image_id in val_ids:
                (inputs / f"{image_id}.jpg").write_bytes((folder / "images" / f"{image_id}.jpg").read_bytes())
            parser = ConfigParser()
            parser.read_config(str(bundle / "configs" / "inference.json"))
            parser.update(
                {
                    "bundle_root": str(bundle),
                    "output_dir": tmp,
                    "model_file": str(Path(tmp) / "model.pt"),
                    "input": str(inputs),
                    "device": "cpu",
                    "save_overlays": False,
                    "save_probabilities": True,
                    "image_size": size,
                }  # fmt: skip
            )
            parser.get_parsed_content("initialize")
            parser.get_parsed_content("evaluator").run()
            for image_id in val_ids:
                expected = reference_probabilities[image_id]
                mask, probability = (
                    cv2.imread(str(Path(tmp) / "inference" / kind / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
                    for kind in ("masks", "probabilities")
                )
                mask, probability = mask > 127, probability / 255.0
                median = float(np.median(expected))
                results.append(
                    {
                        "id": image_id,
                        "dice_at_0.5": dice(expected > 0.5, mask),
                        "dice_at_reference_median": dice(expected > median, probability > median),
                        "max_probability_difference": float(np.abs(expected - probability).max()),
                        "reference_foreground_at_0.5": float((expected > 0.5).mean()),
                    }  # fmt: skip
                )
        mean = {k: float(np.mean([r[k] for r in results])) for k in ("dice_at_0.5", "dice_at_reference_median")}
        label = "as converted (BGR -> RGB)" if channel_order == "bgr" else "without the colour conversion"
        print(f"  {label}: mean Dice at 0.5 {mean['dice_at_0.5']:.4f}, at the reference median "
              f"{mean['dice_at_reference_median']:.4f}, largest probability difference "
              f"{max(r['max_probability_difference'] for r in results):.4f}")  # fmt: skip
        for r in results:
            print(f"    {r['id']}: Dice@0.5 {r['dice_at_0.5']:.4f}, Dice@median {r['dice_at_reference_median']:.4f}, "
                  f"reference foreground {r['reference_foreground_at_0.5']:.3f}")  # fmt: skip
        record[channel_order] = {"images": results, **{f"mean_{k}": v for k, v in mean.items()}}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference_repo", required=True, help="a local clone of xiaoquan-1/Med-DisSeg")
    parser.add_argument(
        "--data_root", default=os.environ.get(DATA_ROOT_ENV) or str(REPO_ROOT.parent / "shared" / "data")
    )
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--stages", default="2,1")
    parser.add_argument("--masks", type=int, default=0, help="fit the reference N steps, then compare masks (0: off)")
    parser.add_argument("--mask_images", type=int, default=4)
    parser.add_argument("--fit_learning_rate", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="optional JSON of the figures")
    parser.add_argument(
        "--float64", action="store_true", help="also run the comparison with networks, inputs and targets in float64"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    ref = load_reference(args.reference_repo)
    folder = Path(args.data_root) / "Kvasir-SEG"
    train_ids = (folder / "train.txt").read_text().split()
    x_bgr, y = read_reference_way(folder, train_ids[: args.batch_size], args.image_size)
    print(f"batch: {args.batch_size} Kvasir-SEG training images at {args.image_size}^2, read with OpenCV, "
          f"augmentation off; Adam {LEARNING_RATE}; dispersive weight {DISPERSIVE_WEIGHT}")  # fmt: skip
    record: dict = {"settings": {k: v for k, v in vars(args).items()}}
    fitted = None
    runs = [("", torch.float32)] + ([("_float64", torch.float64)] if args.float64 else [])
    raw_gradients: dict = {}
    for suffix, dtype in runs:
        if "2" in args.stages.split(","):
            result = stage2(ref, x_bgr, y, args.seed, dtype)
            networks = result.pop("networks")
            fitted = networks[0] if fitted is None else fitted
            raw_gradients[f"stage2{suffix}"] = result.pop("raw_gradients")
            record[f"stage2{suffix}"] = result
            del networks, result
        if "1" in args.stages.split(","):
            result = stage1(ref, x_bgr, photometric_view(x_bgr, args.seed), y, args.seed, dtype)
            raw_gradients[f"stage1{suffix}"] = result.pop("raw_gradients")
            record[f"stage1{suffix}"] = result
    for stage, title in (("stage2", "Stage II"), ("stage1", "Stage I")):
        if f"{stage}_float64" in raw_gradients:
            record[f"{stage}_rounding"] = print_rounding(title, raw_gradients[stage], raw_gradients[f"{stage}_float64"])
    raw_gradients.clear()
    if args.masks:
        if fitted is None:
            torch.manual_seed(args.seed)
            fitted = ref["MedDisSeg2"](use_dispersive_loss=True)
        print(
            f"\nMasks ({args.masks} fitting steps of the reference at {args.image_size}^2, lr {args.fit_learning_rate})"
        )
        val_ids = (folder / "val.txt").read_text().split()[: args.mask_images]
        record["masks"] = masks(
            ref,
            folder,
            fitted.train(),
            train_ids,
            val_ids,
            args.masks,
            args.batch_size,
            args.image_size,
            args.fit_learning_rate,
        )
    if args.output:
        Path(args.output).write_text(json.dumps(record, indent=1, default=str))
    for suffix, dtype in runs:
        summarise(record, suffix, dtype)


def summarise(record: dict, suffix: str, dtype: torch.dtype) -> None:
    """The worst figures over the stages of one precision."""
    stages = [record[s + suffix] for s in ("stage2", "stage1") if s + suffix in record]
    if not stages:
        return
    worst_terms = max(
        (row["relative"] for st in stages for name, row in st["terms"].items() if not name.startswith("dispersive")),
        default=math.nan,
    )
    adam = max(st["after"]["parameter"] for st in stages)
    agree = max(st["after"]["parameter_where_signs_agree"] for st in stages)
    sgd = max(st["sgd"]["parameter"] for st in stages)
    gradient = max(st["gradients"]["largest_relative"] for st in stages)
    median = max(st["gradients"]["median_relative"] for st in stages)
    signs = sum(st["gradients"]["sign_differs"] for st in stages)
    print(f"\n{dtype_label(dtype)}, worst over the stages:")
    print(f"  largest relative difference of a non-dispersive term: {worst_terms:.3e} (goal 1e-5)")
    print(f"  gradients: largest per-tensor relative difference {gradient:.3e}, largest median {median:.3e}; "
          f"elements whose sign differs: {signs}")  # fmt: skip
    print(f"  largest parameter difference after one Adam step: {adam:.3e} = {adam / LEARNING_RATE:.3f} lr "
          f"(goal 1e-6); where the gradient signs agree: {agree:.3e}")  # fmt: skip
    print(f"  largest parameter difference after one SGD step (lr {LEARNING_RATE}): {sgd:.3e}")


if __name__ == "__main__":
    main()
