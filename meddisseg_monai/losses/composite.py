"""Med-DisSeg's training objectives: Stage I (two views) and Stage II (mask, auxiliary maps, dispersion).

Both take the train-mode outputs of the networks built with ``auxiliary_outputs=True`` (dicts) and return the total
as a scalar tensor (what MONAI's ``SupervisedTrainer`` back-propagates); after each call the detached value of every
term is in ``last_terms`` (``meddisseg_monai.handlers.LossTermsHandler`` publishes them for logging).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.nn.modules.loss import _Loss

from ..utils.enums import STAGE1_OUTPUT_KEYS, STAGE2_OUTPUT_KEYS
from ..utils.precision import loss_dtype
from .dispersive import DispersiveLoss
from .segmentation import dice_bce_loss, hard_consistency_loss, segmentation_loss

__all__ = [
    "AUXILIARY_WEIGHTINGS",
    "MedDisSegStage1Loss",
    "MedDisSegLoss",
    "foreground_union",
    "complementary_loss",
    "auxiliary_weight",
]

#: how ``b_fg`` / ``b_bg`` are computed (:func:`auxiliary_weight`)
AUXILIARY_WEIGHTINGS = ("reference", "mean")


def _dispersive(dispersive: DispersiveLoss | Mapping | None) -> DispersiveLoss:
    if dispersive is None:
        return DispersiveLoss()
    if isinstance(dispersive, Mapping):
        return DispersiveLoss(**dispersive)
    if not isinstance(dispersive, DispersiveLoss):
        raise ValueError(f"dispersive must be a DispersiveLoss or a dict of its arguments, got {type(dispersive)}.")
    return dispersive


def _check_weights(loss_name: str, out_channels: int, dispersive_weight: float) -> None:
    if out_channels < 1:
        raise ValueError(f"{loss_name}: out_channels must be >= 1, got {out_channels}.")
    if dispersive_weight < 0:
        raise ValueError(f"{loss_name}: dispersive_weight must be >= 0, got {dispersive_weight}.")


def _check_outputs(outputs: object, keys: tuple[str, ...], loss_name: str) -> Mapping:
    if not isinstance(outputs, Mapping) or any(k not in outputs for k in keys):
        found = list(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
        raise ValueError(
            f"{loss_name} takes the train-mode output dict of the network with keys {keys}, got {found}; "
            "build the network with auxiliary_outputs=True and call it in train mode."
        )
    return outputs


def _check_target(logits: torch.Tensor, target: torch.Tensor, loss_name: str) -> None:
    if target.ndim != logits.ndim or target.shape[0] != logits.shape[0] or target.shape[2:] != logits.shape[2:]:
        raise ValueError(
            f"{loss_name}: target shape {tuple(target.shape)} does not fit the prediction {tuple(logits.shape)} "
            "(expected (B, 1, *spatial) labels at the prediction's size)."
        )
    if target.shape[1] != 1:
        raise ValueError(
            f"{loss_name}: target must have one channel (binary mask or class ids), got {target.shape[1]}."
        )


def foreground_union(target: torch.Tensor) -> torch.Tensor:
    """Binary foreground ``(B, 1, ...)`` of a label map: every non-zero class (for a binary mask: the mask); float32,
    or float64 for a float64 target."""
    return (target > 0.5).to(loss_dtype(target))


def auxiliary_weight(logits: torch.Tensor, weighting: str = "reference", min_activation: float = 1e-3) -> torch.Tensor:
    """The weight ``b`` of an auxiliary map's loss term, from the map's logits ``(B, 1, *spatial)``.

    - ``"reference"`` (the reference code, ``utils/run_engine.py``): ``b = 1 / (tanh(S / N) + 1e-15)`` with ``S`` the
      sum of the sigmoid map over the whole batch and ``N`` the number of pixels (voxels) of one image, i.e.
      ``1 / tanh(B x mean activation)``; it stays in the graph, so gradients also flow through ``b``. About 1.0-1.2
      at batch 8.
    - ``"mean"``: ``b = 1 / tanh(mean activation)``, detached (a coefficient only), the mean clamped at
      ``min_activation`` so an all-background map cannot make ``b`` infinite. 2.2 at a mean activation of 0.5.

    Raises:
        ValueError: an unknown ``weighting``.
    """
    if weighting == "reference":
        per_image = 1
        for size in logits.shape[2:]:
            per_image *= int(size)
        return 1.0 / (torch.tanh(torch.sigmoid(logits.to(loss_dtype(logits))).sum() / per_image) + 1e-15)
    if weighting == "mean":
        mean_activation = torch.sigmoid(logits.detach().to(loss_dtype(logits))).mean().clamp_min(min_activation)
        return 1.0 / torch.tanh(mean_activation)
    raise ValueError(f"auxiliary weighting must be one of {AUXILIARY_WEIGHTINGS}, got {weighting!r}.")


def complementary_loss(foreground: torch.Tensor, background: torch.Tensor, uncertainty: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of ``p_fg p_bg + p_fg p_uc + p_bg p_uc`` with ``(p_fg, p_bg, p_uc)`` the softmax, over the
    three maps, of their sigmoid activations (the reference applies the softmax to its sigmoid outputs)."""
    stacked = torch.stack([torch.sigmoid(m.to(loss_dtype(m))) for m in (foreground, background, uncertainty)], dim=0)
    p_fg, p_bg, p_uc = torch.softmax(stacked, dim=0)
    return (p_fg * p_bg + p_fg * p_uc + p_bg * p_uc).mean()


class MedDisSegLoss(_Loss):
    """Stage II objective::

        L = Seg(M, y) + b_fg * DiceBCE(M_fg, fg) + b_bg * DiceBCE(M_bg, 1 - fg) + L_compl + w * L_disp(features)

    ``Seg`` is DiceBCE for one output channel and softmax Dice + CE for several; ``fg`` is the union of the
    foreground classes of ``y``, so the auxiliary heads see the same binary problem in both cases, and the
    background target ``1 - fg`` is derived here from the (augmented) label the loss receives, so image and
    background target always agree. ``b`` is the reference's ``1 / tanh(B x mean activation)``, in the graph, or a
    detached per-image form (:func:`auxiliary_weight`).

    Args:
        out_channels: the network's output channels (1 = binary).
        dispersive: a :class:`DispersiveLoss` or a dict of its arguments (default: its defaults).
        dispersive_weight: ``w`` (0.2 in the reference code; the reference README's figure uses 0.6).
        smooth: Dice smoothing term.
        auxiliary_weighting: ``"reference"`` or ``"mean"`` (:func:`auxiliary_weight`).

    Returns (from ``forward``):
        the total (a scalar tensor). ``last_terms`` then holds the detached ``"mask"``, ``"foreground"``,
        ``"background"``, ``"complementary"``, ``"dispersive"``, ``"weight_foreground"`` and ``"weight_background"``.
    """

    def __init__(
        self,
        out_channels: int = 1,
        dispersive: DispersiveLoss | Mapping | None = None,
        dispersive_weight: float = 0.2,
        smooth: float = 1.0,
        auxiliary_weighting: str = "reference",
    ) -> None:
        super().__init__()
        _check_weights("MedDisSegLoss", out_channels, dispersive_weight)
        if auxiliary_weighting not in AUXILIARY_WEIGHTINGS:
            raise ValueError(
                f"MedDisSegLoss: auxiliary_weighting must be one of {AUXILIARY_WEIGHTINGS}, "
                f"got {auxiliary_weighting!r}."
            )
        self.out_channels = out_channels
        self.segmentation = segmentation_loss(out_channels, smooth)
        self.auxiliary = dice_bce_loss(smooth)
        self.dispersive = _dispersive(dispersive)
        self.dispersive_weight = float(dispersive_weight)
        self.auxiliary_weighting = auxiliary_weighting
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, outputs: Mapping[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        outputs = _check_outputs(outputs, STAGE2_OUTPUT_KEYS, "MedDisSegLoss")
        logits = outputs["pred"]
        _check_target(logits, target, "MedDisSegLoss")
        foreground = foreground_union(target)
        terms = {
            "mask": self.segmentation(logits, target),
            "foreground": self.auxiliary(outputs["foreground"], foreground),
            "background": self.auxiliary(outputs["background"], 1.0 - foreground),
            "complementary": complementary_loss(outputs["foreground"], outputs["background"], outputs["uncertainty"]),
            "dispersive": self.dispersive(outputs["features"]),
            "weight_foreground": auxiliary_weight(outputs["foreground"], self.auxiliary_weighting),
            "weight_background": auxiliary_weight(outputs["background"], self.auxiliary_weighting),
        }
        total = (
            terms["mask"]
            + terms["weight_foreground"] * terms["foreground"]
            + terms["weight_background"] * terms["background"]
            + terms["complementary"]
            + self.dispersive_weight * terms["dispersive"]
        )
        self.last_terms = {k: v.detach() for k, v in terms.items()}
        return total


class MedDisSegStage1Loss(_Loss):
    """Stage I objective over a clean and a strongly augmented view of the same batch::

        L = Seg(p, y) + Seg(p_aug, y) + CE(p, [p_aug]) + CE(p_aug, [p]) + w * (L_disp(clean) + L_disp(aug))

    ``[p]`` is the hard prediction (``> 0.5`` for one channel, argmax for several); the consistency terms are binary
    cross-entropies for one channel and cross-entropies otherwise.

    Args:
        out_channels: the network's output channels (1 = binary).
        dispersive: a :class:`DispersiveLoss` or a dict of its arguments.
        dispersive_weight: ``w`` (0.2 in the paper).
        smooth: Dice smoothing term.

    Returns (from ``forward``):
        the total (a scalar tensor). ``last_terms`` then holds the detached ``"mask"``, ``"mask_augmented"``,
        ``"consistency"``, ``"dispersive"`` and ``"dispersive_augmented"``.

    :meth:`single_view` is the objective on one view, ``Seg(p, y) + w * L_disp(clean)``: what the reference
    computes on validation batches.
    """

    def __init__(
        self,
        out_channels: int = 1,
        dispersive: DispersiveLoss | Mapping | None = None,
        dispersive_weight: float = 0.2,
        smooth: float = 1.0,
    ) -> None:
        super().__init__()
        _check_weights("MedDisSegStage1Loss", out_channels, dispersive_weight)
        self.segmentation = segmentation_loss(out_channels, smooth)
        self.dispersive = _dispersive(dispersive)
        self.dispersive_weight = float(dispersive_weight)
        self.last_terms: dict[str, torch.Tensor] = {}

    def single_view(self, outputs: Mapping[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """``Seg(p, y) + w * L_disp(features)`` on one view (the reference's Stage I validation loss)."""
        outputs = _check_outputs(outputs, STAGE1_OUTPUT_KEYS, "MedDisSegStage1Loss")
        _check_target(outputs["pred"], target, "MedDisSegStage1Loss")
        mask = self.segmentation(outputs["pred"], target)
        return mask + self.dispersive_weight * self.dispersive(outputs["features"])

    def forward(
        self, outputs: Mapping[str, torch.Tensor], outputs_augmented: Mapping[str, torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        outputs = _check_outputs(outputs, STAGE1_OUTPUT_KEYS, "MedDisSegStage1Loss")
        outputs_augmented = _check_outputs(outputs_augmented, STAGE1_OUTPUT_KEYS, "MedDisSegStage1Loss")
        logits, logits_augmented = outputs["pred"], outputs_augmented["pred"]
        _check_target(logits, target, "MedDisSegStage1Loss")
        terms = {
            "mask": self.segmentation(logits, target),
            "mask_augmented": self.segmentation(logits_augmented, target),
            "consistency": hard_consistency_loss(logits, logits_augmented)
            + hard_consistency_loss(logits_augmented, logits),
            "dispersive": self.dispersive(outputs["features"]),
            "dispersive_augmented": self.dispersive(outputs_augmented["features"]),
        }
        total = (
            terms["mask"]
            + terms["mask_augmented"]
            + terms["consistency"]
            + self.dispersive_weight * (terms["dispersive"] + terms["dispersive_augmented"])
        )
        self.last_terms = {k: v.detach() for k, v in terms.items()}
        return total
