"""The fast paths of the 2D bundle's inference agree with fp32 on real images: bf16 autocast, channels-last and
``torch.compile`` masks against the plain fp32 masks of the same briefly trained network (Dice >= 0.99 per image).

The short fit runs in fp32, and the bf16 case runs only where the CPU computes bf16 natively (it is ~40x slower where
emulated); ``--autocast auto`` must then be fp32, so its masks equal the fp32 ones exactly."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

import numpy as np
import pytest
import torch
from parameterized import parameterized
from PIL import Image

from meddisseg_monai.losses import MedDisSegLoss
from meddisseg_monai.networks import MedDisSeg
from tests.utils import (
    EMULATED_BF16_REASON,
    NATIVE_BF16,
    checked_output,
    kvasir_batch,
    prepare_kvasir_run,
    run_bundle,
)

OPTIONS = [
    ["bf16", ["--autocast", "bf16"]],
    ["auto", ["--autocast", "auto"]],
    ["channels_last", ["--channels_last", "true"]],
    ["compile", ["--compile", "true"]],
]


def _train_briefly(models: Path, steps: int = 12, batch_size: int = 4, size: int = 64) -> None:
    """A short fp32 fit on real Kvasir-SEG training images, so that predictions are real masks with confident regions
    rather than the near-0.5 maps of an untrained network (whose thresholding any rounding flips)."""
    torch.manual_seed(0)
    images, masks = kvasir_batch(count=steps * batch_size // 2, size=size, with_masks=True, split="train")
    network = MedDisSeg(auxiliary_outputs=True).train()
    optimizer = torch.optim.Adam(network.parameters(), 3e-4)
    loss_fn = MedDisSegLoss()
    for step in range(steps):
        index = torch.arange(step * batch_size, (step + 1) * batch_size) % len(images)
        optimizer.zero_grad()
        loss = loss_fn(network(images[index]), masks[index])
        loss.backward()
        optimizer.step()
    models.mkdir(parents=True)
    torch.save(network.state_dict(), models / "model.pt")


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.asarray(Image.open(p)) > 127 for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
class TestFastPathAgreement(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prepare_kvasir_run(cls, train=2, validation=0, test=8)
        _train_briefly(cls.out / "models")
        cls.common = [*cls.common, "--save_overlays", "false"]
        cls.baseline, _ = cls._infer("fp32", ["--autocast", "fp32"])

    @classmethod
    def _infer(cls, name: str, options: list[str]) -> tuple[dict[str, np.ndarray], str]:
        folder = cls.tmp / name
        log = checked_output(
            run_bundle(["inference.json"], *cls.common, "--inference_dir", str(folder), *options), name
        )
        return _masks(folder / "masks"), log

    def test_baseline_masks_are_not_trivial(self):
        self.assertEqual(len(self.baseline), 8)
        fractions = [mask.mean() for mask in self.baseline.values()]
        # the short fp32 fit finds something in most images (6 of 8 here), never everything: the agreement is
        # measured on real masks, not on all-empty or all-full ones
        self.assertGreaterEqual(sum(f > 0.0 for f in fractions), 5, fractions)
        self.assertLess(max(fractions), 0.9, fractions)

    @parameterized.expand(OPTIONS)
    def test_agrees_with_fp32(self, name, options):
        if name == "bf16" and not NATIVE_BF16:
            self.skipTest(EMULATED_BF16_REASON)
        masks, log = self._infer(name, options)
        self.assertEqual(set(masks), set(self.baseline))
        dices = {}
        for key, reference in self.baseline.items():
            self.assertEqual(masks[key].shape, reference.shape, key)
            total = reference.sum() + masks[key].sum()
            dices[key] = 1.0 if total == 0 else 2.0 * (reference & masks[key]).sum() / total
        print(f"{name} vs fp32 Dice per image: {json.dumps({k: round(float(v), 5) for k, v in dices.items()})}")
        self.assertGreaterEqual(min(dices.values()), 0.99, dices)
        if name == "auto":  # the log names the precision chosen for this machine
            self.assertIn(f"autocast 'auto' -> {'bf16' if NATIVE_BF16 else 'fp32'}", log)
        if name == "auto" and not NATIVE_BF16:  # auto is plain fp32 here: the very same masks
            self.assertEqual(min(dices.values()), 1.0, dices)


if __name__ == "__main__":
    unittest.main()
