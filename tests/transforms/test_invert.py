"""InvertArgmaxd on a real CT: the same label map as Invertd + argmax, whatever the number of channels per step."""

from __future__ import annotations

import unittest

import torch
from monai.data import MetaTensor
from monai.transforms import (
    AsDiscreted,
    Compose,
    CropForegroundd,
    EnsureChannelFirstd,
    EnsureTyped,
    Invertd,
    LoadImaged,
    Orientationd,
    ScaleIntensityRanged,
    Spacingd,
)
from parameterized import parameterized

from meddisseg_monai.transforms.invert import InvertArgmaxd
from tests.utils import shared_data_path


def preprocessing(spacing) -> Compose:
    """The CT bundle's inference preprocessing (without its volume check)."""
    return Compose(
        [
            LoadImaged("image", image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", axcodes="RAS", labels=None),
            Spacingd("image", pixdim=spacing, mode="bilinear"),
            ScaleIntensityRanged("image", a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
            CropForegroundd("image", source_key="image", allow_smaller=True),
            EnsureTyped("image"),
        ]
    )


class TestInvertArgmaxd(unittest.TestCase):
    @parameterized.expand([[1, (6.0, 6.0, 6.0)], [3, (6.0, 6.0, 6.0)], [14, (4.5, 5.0, 4.0)]])
    def test_same_labels_as_invert_then_argmax(self, channels_per_step, spacing):
        path = shared_data_path("CT-TotalSegmentator-examples", "example_ct_sm.nii.gz")
        transform = preprocessing(spacing)
        data = transform({"image": str(path)})
        torch.manual_seed(0)
        # smooth random class scores on the preprocessed grid: ties and near-ties across resampled voxels
        scores = torch.rand(14, *(s // 2 + 1 for s in data["image"].shape[1:]))
        scores = torch.nn.functional.interpolate(scores[None], size=data["image"].shape[1:], mode="trilinear")[0]
        data["pred"] = MetaTensor(torch.softmax(scores * 20, dim=0), meta=data["image"].meta)  # as a network output
        expected = Compose(
            [
                Invertd("pred", transform, orig_keys="image", nearest_interp=False, to_tensor=True),
                AsDiscreted("pred", argmax=True),
            ]
        )(dict(data))["pred"]
        result = InvertArgmaxd("pred", transform, orig_keys="image", channels_per_step=channels_per_step)(dict(data))[
            "pred"
        ]
        self.assertEqual(tuple(result.shape), tuple(expected.shape))
        self.assertEqual(tuple(result.shape[1:]), (122, 101, 30))  # the source grid
        torch.testing.assert_close(result.as_tensor().long(), expected.as_tensor().long())
        torch.testing.assert_close(result.affine, expected.affine)

    def test_rejects_zero_channels_per_step(self):
        with self.assertRaisesRegex(ValueError, "at least 1"):
            InvertArgmaxd("pred", Compose([]), channels_per_step=0)


if __name__ == "__main__":
    unittest.main()
