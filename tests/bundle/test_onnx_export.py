"""ONNX export of both bundles' eval networks with MONAI's ``onnx_export`` (``python -m monai.bundle onnx_export``),
run in onnxruntime (CPU) on real Kvasir-SEG frames and the shared CT volume and compared with PyTorch.

Small settings (feature_channels 32; 64^2 frames, 32^3 CT patches at 8 mm): the graph is the same as at full size,
only narrower. The weights are a random initialisation whose output bias is centred on these inputs, so that the
masks are far from empty or full (half the pixels positive in 2D, many organs present in CT) and a logit error of
the exporter would flip pixels.
"""

from __future__ import annotations

import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, onnx_export
from monai.transforms import ResizeWithPadOrCrop
from parameterized import parameterized

from meddisseg_monai.networks.weights import WeightsMismatchError
from tests.onnx_utils import CONVERTER_KWARGS, centred_network
from tests.utils import REPO_ROOT, kvasir_batch, shared_data_path

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install -e .[onnx])")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e .[onnx])")

BUNDLES = {
    "2d": REPO_ROOT / "bundle" / "meddisseg_2d_segmentation",
    "ct": REPO_ROOT / "bundle" / "meddisseg_ct_segmentation",
}
SMALL = {"network_def#feature_channels": 32}


def kvasir_input() -> torch.Tensor:
    """Two real Kvasir-SEG validation frames, RGB in [0, 1] at 64^2 (the 2D bundle's preprocessing, smaller)."""
    return kvasir_batch(count=2, size=64, split="val")


def ct_input() -> torch.Tensor:
    """Two 32^3 patches of the shared CT volume through the CT bundle's own inference preprocessing at 8 mm."""
    source = shared_data_path("CT-TotalSegmentator-examples") / "example_ct_sm.nii.gz"
    parser = ConfigParser()
    parser.read_config(str(BUNDLES["ct"] / "configs" / "inference.json"))
    parser.update({"spacing": [8.0, 8.0, 8.0]})
    image = parser.get_parsed_content("preprocessing")({"image": str(source)})["image"]
    whole = ResizeWithPadOrCrop((32, 32, 32))(image)
    shifted = ResizeWithPadOrCrop((32, 32, 32))(torch.flip(image, [1]))
    return torch.stack([whole.as_tensor(), shifted.as_tensor()]).float()


INPUTS = {"2d": kvasir_input, "ct": ct_input}


def masks(logits: np.ndarray) -> np.ndarray:
    """One-hot masks: ``logits > 0`` (sigmoid > 0.5) for one channel, the argmax otherwise."""
    if logits.shape[1] == 1:
        return logits > 0
    labels = logits.argmax(1)
    return np.stack([labels == c for c in range(logits.shape[1])], axis=1)


def dice_per_class(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Dice of each class present in ``a`` or ``b`` (batch and space pooled)."""
    scores = []
    for c in range(a.shape[1]):
        total = a[:, c].sum() + b[:, c].sum()
        if total:
            scores.append(float(2 * np.logical_and(a[:, c], b[:, c]).sum() / total))
    return scores


def export(bundle: str, checkpoint: Path, filepath: Path, input_shape: list[int]) -> None:
    """The documented command, as the Python call behind ``python -m monai.bundle onnx_export``."""
    configs = BUNDLES[bundle] / "configs"
    onnx_export(
        net_id="network_def",
        filepath=str(filepath),
        ckpt_file=str(checkpoint),
        meta_file=str(configs / "metadata.json"),
        config_file=str(configs / "inference.json"),
        use_trace=True,
        input_shape=input_shape,
        converter_kwargs=dict(CONVERTER_KWARGS),
        **SMALL,
    )


@pytest.mark.slow
class TestOnnxExport(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, True)

    @parameterized.expand([["2d"], ["ct"]])
    def test_onnxruntime_matches_pytorch(self, bundle):
        x = INPUTS[bundle]()
        parser = ConfigParser()
        parser.read_config(str(BUNDLES[bundle] / "configs" / "inference.json"))
        parser.update(SMALL)
        network = centred_network(parser, x)
        torch.save(network.state_dict(), self.tmp / "model.pt")
        export(bundle, self.tmp / "model.pt", self.tmp / "model.onnx", [1, *x.shape[1:]])

        model = onnx.load(str(self.tmp / "model.onnx"))
        onnx.checker.check_model(model)
        self.assertEqual({n.domain for n in model.graph.node} - {"", "ai.onnx"}, set())  # standard operators only
        session = ort.InferenceSession(str(self.tmp / "model.onnx"), providers=["CPUExecutionProvider"])
        self.assertEqual([i.name for i in session.get_inputs()], ["image"])
        onnx_logits = session.run(["pred"], {"image": x.numpy()})[0]  # batch 2: the batch axis is dynamic
        with torch.no_grad():
            torch_logits = network(x).numpy()

        self.assertEqual(onnx_logits.shape, torch_logits.shape)
        self.assertLessEqual(float(np.abs(onnx_logits - torch_logits).max()), 1e-3)
        reference, exported = masks(torch_logits), masks(onnx_logits)
        if bundle == "2d":
            self.assertTrue(0.2 < reference.mean() < 0.8, reference.mean())  # a non-trivial mask
        else:
            self.assertGreaterEqual(int(reference.reshape(2, reference.shape[1], -1).any(-1).any(0).sum()), 4)
        self.assertGreaterEqual(min(dice_per_class(reference, exported)), 0.999)

    def test_checkpoint_of_another_network_is_named(self):
        """Exporting the CT bundle's (3D, 14-class) checkpoint with the 2D bundle's config names both networks."""
        parser = ConfigParser()
        parser.read_config(str(BUNDLES["ct"] / "configs" / "inference.json"))
        parser.update(SMALL)
        torch.save(parser.get_parsed_content("network_def").state_dict(), self.tmp / "ct.pt")
        with self.assertRaises(WeightsMismatchError) as raised:
            export("2d", self.tmp / "ct.pt", self.tmp / "model.onnx", [1, 3, 64, 64])
        message = str(raised.exception)
        self.assertIn("from MedDisSeg (3D, 1 input channel(s), 14 output channel(s)", message)
        self.assertIn("the network is MedDisSeg (2D, 3 input channel(s), 1 output channel(s)", message)
        self.assertIn("shape differs", message)
        self.assertFalse((self.tmp / "model.onnx").exists())


if __name__ == "__main__":
    unittest.main()
