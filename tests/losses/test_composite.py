from __future__ import annotations

import unittest

import torch
import torch.nn.functional as F
from parameterized import parameterized

from meddisseg_monai.losses import DispersiveLoss, MedDisSegLoss, MedDisSegStage1Loss, auxiliary_weight


def all_terms(loss, *args) -> dict:
    """The total a loss returns and the terms it leaves in ``last_terms``."""
    total = loss(*args)
    return {"loss": total, **loss.last_terms}


def manual_dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's DiceBCE from its definition: soft Dice over the whole batch with smooth 1, plus mean BCE."""
    p = torch.sigmoid(logits).flatten()
    t = target.flatten()
    dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    return dice + bce


def stage2_outputs(batch=2, out_channels=1, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    outputs = {
        name: torch.randn(batch, channels, size, size, generator=g)
        for name, channels in (("pred", out_channels), ("foreground", 1), ("background", 1), ("uncertainty", 1))
    }
    outputs["features"] = [torch.randn(batch, 8, size // s, size // s, generator=g) * 0.2 for s in (2, 4, 8, 16)]
    return outputs


def binary_target(batch=2, size=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 1, size, size, generator=g) > 0.6).float()


class TestMedDisSegLoss(unittest.TestCase):
    def test_terms_follow_the_definition(self):
        outputs, target = stage2_outputs(), binary_target()
        terms = all_terms(MedDisSegLoss(dispersive_weight=0.6), outputs, target)
        fg, bg, uc = outputs["foreground"], outputs["background"], outputs["uncertainty"]
        torch.testing.assert_close(terms["mask"], manual_dice_bce(outputs["pred"], target))
        torch.testing.assert_close(terms["foreground"], manual_dice_bce(fg, target))
        torch.testing.assert_close(terms["background"], manual_dice_bce(bg, 1 - target))
        # the reference's weight: 1 / (tanh(sum of the sigmoid map over the whole batch / (H * W)) + 1e-15)
        b_fg = 1 / (torch.tanh(torch.sigmoid(fg).sum() / (16 * 16)) + 1e-15)
        b_bg = 1 / (torch.tanh(torch.sigmoid(bg).sum() / (16 * 16)) + 1e-15)
        torch.testing.assert_close(terms["weight_foreground"], b_fg)
        torch.testing.assert_close(terms["weight_background"], b_bg)
        probs = torch.softmax(torch.stack([torch.sigmoid(m) for m in (fg, bg, uc)]), dim=0)
        compl = (probs[0] * probs[1] + probs[0] * probs[2] + probs[1] * probs[2]).mean()
        torch.testing.assert_close(terms["complementary"], compl)
        disp = DispersiveLoss()(outputs["features"])
        expected = terms["mask"] + b_fg * terms["foreground"] + b_bg * terms["background"] + compl + 0.6 * disp
        torch.testing.assert_close(terms["loss"], expected)

    def test_float64_is_kept_in_every_term(self):
        # a float64 step is the rounding-free check of a float32 one (benchmarks/step_equivalence.py --float64): no
        # term may drop to float32 on the way (b, the complementary and the dispersive terms once did: 1e-7 relative)
        outputs = stage2_outputs()
        outputs = {k: [f.double() for f in v] if k == "features" else v.double() for k, v in outputs.items()}
        target = binary_target().double()
        terms = all_terms(MedDisSegLoss(), outputs, target)
        for name, value in terms.items():
            self.assertEqual(value.dtype, torch.float64, name)
        fg, bg, uc = outputs["foreground"], outputs["background"], outputs["uncertainty"]
        b_fg = 1 / (torch.tanh(torch.sigmoid(fg).sum() / (16 * 16)) + 1e-15)
        torch.testing.assert_close(terms["weight_foreground"], b_fg, rtol=1e-13, atol=0)
        probs = torch.softmax(torch.stack([torch.sigmoid(m) for m in (fg, bg, uc)]), dim=0)
        compl = (probs[0] * probs[1] + probs[0] * probs[2] + probs[1] * probs[2]).mean()
        torch.testing.assert_close(terms["complementary"], compl, rtol=1e-13, atol=0)
        # half precision is still computed in float32
        self.assertEqual(auxiliary_weight(fg.half()).dtype, torch.float32)

    def test_background_target_follows_the_augmented_mask(self):
        # flipping outputs and label together (what an augmentation does) leaves every term unchanged, which
        # fails if the background target is computed before augmentation (the reference's defect)
        outputs, target = stage2_outputs(), binary_target()
        flipped = {k: (v.flip(-1) if torch.is_tensor(v) else [f.flip(-1) for f in v]) for k, v in outputs.items()}
        loss = MedDisSegLoss()
        original, augmented = all_terms(loss, outputs, target), all_terms(loss, flipped, target.flip(-1))
        for name in original:
            torch.testing.assert_close(original[name], augmented[name])

    def test_multiclass_uses_softmax_and_the_union_for_auxiliary_heads(self):
        outputs = stage2_outputs(out_channels=4)
        labels = torch.randint(0, 4, (2, 1, 16, 16)).float()
        terms = all_terms(MedDisSegLoss(out_channels=4), outputs, labels)
        union = (labels > 0).float()
        torch.testing.assert_close(terms["foreground"], manual_dice_bce(outputs["foreground"], union))
        onehot = F.one_hot(labels[:, 0].long(), 4).permute(0, 3, 1, 2).float()
        probs = torch.softmax(outputs["pred"], 1)
        dice = (
            1 - ((2 * (probs * onehot).sum((0, 2, 3)) + 1) / (probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)).mean()
        )
        ce = F.cross_entropy(outputs["pred"], labels[:, 0].long())
        torch.testing.assert_close(terms["mask"], dice + ce)

    def test_only_total_carries_gradient(self):
        outputs = {k: (v.requires_grad_() if torch.is_tensor(v) else v) for k, v in stage2_outputs().items()}
        terms = all_terms(MedDisSegLoss(), outputs, binary_target())
        self.assertTrue(terms["loss"].requires_grad)
        self.assertFalse(any(v.requires_grad for k, v in terms.items() if k != "loss"))
        terms["loss"].backward()
        self.assertGreater(outputs["uncertainty"].grad.abs().sum(), 0)

    @parameterized.expand(
        [
            ["eval output (a tensor)", lambda o: o["pred"], binary_target()],
            ["missing auxiliary map", lambda o: {k: v for k, v in o.items() if k != "uncertainty"}, binary_target()],
            ["label of another size", lambda o: o, binary_target(size=32)],
            ["one-hot label", lambda o: o, torch.zeros(2, 2, 16, 16)],
        ]
    )
    def test_bad_inputs_raise(self, _, transform, target):
        with self.assertRaises(ValueError):
            MedDisSegLoss()(transform(stage2_outputs()), target)

    def test_invalid_options(self):
        with self.assertRaises(ValueError):
            MedDisSegLoss(out_channels=0)
        with self.assertRaises(ValueError):
            MedDisSegLoss(dispersive={"variant": "nope"})
        with self.assertRaises(ValueError):
            MedDisSegLoss(auxiliary_weighting="per_pixel")


# batch, mean activation of the map (logit = logit(a)), expected b
WEIGHT_CASES = [
    ["reference, batch 8, a=0.5", "reference", 8, 0.5, 1 / (torch.tanh(torch.tensor(8 * 0.5)) + 1e-15)],
    ["reference, batch 8, a=0.16", "reference", 8, 0.16, 1 / (torch.tanh(torch.tensor(8 * 0.16)) + 1e-15)],
    ["reference, batch 1, a=0.5", "reference", 1, 0.5, 1 / (torch.tanh(torch.tensor(0.5)) + 1e-15)],
    ["mean, batch 8, a=0.5", "mean", 8, 0.5, 1 / torch.tanh(torch.tensor(0.5))],
    ["mean, batch 8, a=0.16", "mean", 8, 0.16, 1 / torch.tanh(torch.tensor(0.16))],
]


class TestAuxiliaryWeight(unittest.TestCase):
    @parameterized.expand(WEIGHT_CASES)
    def test_value(self, _, weighting, batch, activation, expected):
        logits = torch.full((batch, 1, 8, 12), torch.logit(torch.tensor(activation)).item())
        torch.testing.assert_close(auxiliary_weight(logits, weighting), expected.float())

    def test_reference_form_is_near_one_at_batch_8_and_the_mean_form_is_not(self):
        logits = torch.full((8, 1, 16, 16), torch.logit(torch.tensor(0.5)).item())
        self.assertLess(float(auxiliary_weight(logits, "reference")), 1.01)
        self.assertGreater(float(auxiliary_weight(logits, "mean")), 2.1)

    def test_reference_form_stays_in_the_graph_and_the_mean_form_does_not(self):
        logits = torch.randn(2, 1, 8, 8, requires_grad=True)
        self.assertTrue(auxiliary_weight(logits, "reference").requires_grad)
        self.assertFalse(auxiliary_weight(logits, "mean").requires_grad)
        auxiliary_weight(logits, "reference").backward()
        self.assertGreater(float(logits.grad.abs().sum()), 0)

    def test_weights_match_the_chosen_form_in_the_loss(self):
        outputs, target = stage2_outputs(batch=4), binary_target(batch=4)
        for weighting in ("reference", "mean"):
            terms = all_terms(MedDisSegLoss(auxiliary_weighting=weighting), outputs, target)
            torch.testing.assert_close(
                terms["weight_foreground"], auxiliary_weight(outputs["foreground"], weighting).detach()
            )


class TestMedDisSegStage1Loss(unittest.TestCase):
    def test_terms_follow_the_definition(self):
        clean, augmented = stage2_outputs(seed=0), stage2_outputs(seed=5)
        target = binary_target()
        terms = all_terms(MedDisSegStage1Loss(dispersive_weight=0.2), clean, augmented, target)
        p, q = clean["pred"], augmented["pred"]
        consistency = F.binary_cross_entropy(
            torch.sigmoid(p), (torch.sigmoid(q) > 0.5).float()
        ) + F.binary_cross_entropy(torch.sigmoid(q), (torch.sigmoid(p) > 0.5).float())
        torch.testing.assert_close(terms["consistency"], consistency)
        torch.testing.assert_close(terms["mask_augmented"], manual_dice_bce(q, target))
        disp = DispersiveLoss()
        expected = (
            manual_dice_bce(p, target)
            + manual_dice_bce(q, target)
            + consistency
            + 0.2 * (disp(clean["features"]) + disp(augmented["features"]))
        )
        torch.testing.assert_close(terms["loss"], expected)

    def test_multiclass_consistency_uses_argmax(self):
        clean, augmented = stage2_outputs(out_channels=3, seed=0), stage2_outputs(out_channels=3, seed=5)
        labels = torch.randint(0, 3, (2, 1, 16, 16)).float()
        terms = all_terms(MedDisSegStage1Loss(out_channels=3), clean, augmented, labels)
        expected = F.cross_entropy(clean["pred"], augmented["pred"].argmax(1)) + F.cross_entropy(
            augmented["pred"], clean["pred"].argmax(1)
        )
        torch.testing.assert_close(terms["consistency"], expected)

    def test_single_view_is_the_reference_validation_loss(self):
        clean, target = stage2_outputs(seed=0), binary_target()
        loss = MedDisSegStage1Loss(dispersive_weight=0.2)
        expected = manual_dice_bce(clean["pred"], target) + 0.2 * DispersiveLoss()(clean["features"])
        torch.testing.assert_close(loss.single_view(clean, target), expected)


if __name__ == "__main__":
    unittest.main()
