"""The 2D inference post-processing splits the network output into the prediction and the auxiliary maps with
MONAI's ``SplitDimd`` / ``ConcatItemsd``, for any number of output channels (the real config, parsed)."""

from __future__ import annotations

import unittest

import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import ConcatItemsd, SplitDimd
from parameterized import parameterized

from tests.utils import BUNDLE_ROOT

# out_channels, save_uncertainty
CASES = [["binary_with_uncertainty", 1, True], ["two_classes_with_uncertainty", 2, True], ["binary_only", 1, False]]


def _split_transforms(out_channels: int, save_uncertainty: bool) -> list:
    parser = ConfigParser()
    parser.read_config(str(BUNDLE_ROOT / "configs" / "inference.json"))
    parser.update(
        {
            "bundle_root": str(BUNDLE_ROOT),
            "network_def#out_channels": out_channels,
            "save_uncertainty": save_uncertainty,
            "save_overlays": False,
        }
    )
    transforms = parser.get_parsed_content("postprocessing").transforms
    return [t for t in transforms if isinstance(t, (SplitDimd, ConcatItemsd))]


class TestInferenceOutputSplit(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_split(self, _, out_channels, save_uncertainty):
        channels = out_channels + int(save_uncertainty)
        output = MetaTensor(torch.arange(channels, dtype=torch.float32).reshape(channels, 1, 1).expand(channels, 4, 4))
        data = {"pred": output.clone()}
        for transform in _split_transforms(out_channels, save_uncertainty):
            data = transform(data)
        torch.testing.assert_close(data["pred"], output[:out_channels], check_dtype=False)
        self.assertIsInstance(data["pred"], MetaTensor)
        if save_uncertainty:
            torch.testing.assert_close(data["pred_uncertainty"], output[out_channels:], check_dtype=False)
        else:
            self.assertNotIn("pred_uncertainty", data)


if __name__ == "__main__":
    unittest.main()
