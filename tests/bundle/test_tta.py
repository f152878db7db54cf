"""Test-time augmentation (``--tta true``) through the real evaluate and inference workflows of both bundles.

Each workflow runs in-process (MONAI's ``ConfigWorkflow``, the class behind ``python -m monai.bundle run``) on real
data with an untrained network; a handler keeps the batch and the inferer's output (``FORWARD_COMPLETED``: before the
post-transforms), and the test recomputes the prediction without the TTA inferer: the mean, over the flips, of the
activation of the flipped-back prediction of the flipped input, through the bundle's own inner inferer settings.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import unittest
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.engines import IterationEvents
from monai.inferers import SimpleInferer, SlidingWindowInferer
from parameterized import parameterized

from meddisseg_monai.inferers import FlipTTAInferer, flip_combinations
from tests.utils import REPO_ROOT, kvasir_datalist, shared_data_path

BUNDLE_2D = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
BUNDLE_CT = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"
CT_SMALL = {
    "network_def#feature_channels": 16,
    "roi_size": [32, 32, 32],
    "spacing": [12.0, 12.0, 12.0],
    "sw_batch_size": 2,
}

# bundle, config files, workflow type, the evaluator's id, activation, the default flip axes (CT: not left-right,
# which would swap the left and right organs)
WORKFLOWS = [
    ["2d_inference", BUNDLE_2D, ["inference.json"], "infer", "evaluator", "sigmoid", [0, 1]],
    ["2d_evaluate", BUNDLE_2D, ["train.json", "evaluate.json"], "train", "validate#evaluator", "sigmoid", [0, 1]],
    ["ct_inference", BUNDLE_CT, ["inference.json"], "infer", "evaluator", "softmax", [1, 2]],
    ["ct_evaluate", BUNDLE_CT, ["train.json", "evaluate.json"], "train", "validate#evaluator", "softmax", [1, 2]],
]


def _random_checkpoint(bundle: Path, configs: list[str], overrides: dict, path: Path) -> None:
    parser = ConfigParser()
    parser.read_config([str(bundle / "configs" / c) for c in configs])
    parser.update(overrides)
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)


def _overrides(name: str, tmp: Path) -> dict:
    """Real data, small sizes, the CPU, outputs under ``tmp``, an untrained checkpoint."""
    checkpoint = tmp / "model.pt"
    if name.startswith("2d"):
        datalist, dataset_dir = kvasir_datalist(tmp / "datalist.json", train=2, validation=1, test=2)
        common = {
            "dataset_dir": str(dataset_dir), "datalist": str(datalist), "output_dir": str(tmp / "out"),
            "image_size": 64, "batch_size": 2, "num_workers": 0, "device": "cpu", "network_def#feature_channels": 32,
        }  # fmt: skip
        if name == "2d_inference":
            return {**common, "model_file": str(checkpoint), "save_overlays": False}
        return {
            **common,
            "best_model_file": str(checkpoint),
            "evaluate_split": "test",
            "network_def#encoder_weights": None,
        }
    data = shared_data_path("CT-TotalSegmentator-examples")
    if name == "ct_inference":
        return {
            **CT_SMALL,
            "input": str(data / "example_ct_sm.nii.gz"),
            "ckpt_path": str(checkpoint),
            "output_dir": str(tmp / "out"),
        }
    case = {"image": "example_ct_sm.nii.gz", "label": "example_seg.nii.gz", "source_labels": "totalsegmentator_v2"}
    (tmp / "datalist.json").write_text(json.dumps({"training": [case], "validation": [case]}))
    return {
        **CT_SMALL, "dataset_dir": str(data), "datalist": str(tmp / "datalist.json"), "num_workers": 0, "cache_rate": 0,
        "ckpt_path": str(checkpoint), "output_dir": str(tmp / "out"),
    }  # fmt: skip


def _plain(x: torch.Tensor) -> torch.Tensor:
    """A MetaTensor as a plain tensor (what the comparison needs), any other tensor as it is."""
    return x.as_tensor() if hasattr(x, "as_tensor") else x


def _inner_inferer(name: str):
    """The inferer each flip goes through, built here from the settings the test gave the bundle."""
    if name.startswith("2d"):
        return SimpleInferer()
    return SlidingWindowInferer(roi_size=CT_SMALL["roi_size"], sw_batch_size=CT_SMALL["sw_batch_size"], overlap=0.25)


class TestTTADefaults(unittest.TestCase):
    @parameterized.expand([[w[0], w[1], w[2], w[4], w[5], w[6]] for w in WORKFLOWS])
    def test_off_by_default_and_wired(self, _name, bundle, configs, evaluator_id, activation, axes):
        parser = ConfigParser()
        parser.read_config([str(bundle / "configs" / c) for c in configs])
        inferer = parser.get_parsed_content(f"{evaluator_id}#inferer", lazy=False)
        self.assertIsInstance(inferer, FlipTTAInferer)
        self.assertFalse(inferer.enabled)
        self.assertEqual(inferer.activation, activation)
        self.assertEqual(inferer.flips(2 if bundle == BUNDLE_2D else 3), flip_combinations(axes))
        parser.update({"tta": "true"})  # as the command line passes it
        self.assertTrue(parser.get_parsed_content(f"{evaluator_id}#inferer", lazy=False).enabled)


@pytest.mark.slow
class TestTTAWorkflows(unittest.TestCase):
    @parameterized.expand([[w[0], w[1], w[2], w[3], w[4], w[5], w[6]] for w in WORKFLOWS])
    def test_prediction_is_the_flip_average(self, name, bundle, configs, workflow_type, evaluator_id, activation, axes):
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp, True)
        overrides = _overrides(name, tmp)
        _random_checkpoint(bundle, configs, overrides, tmp / "model.pt")
        workflow = ConfigWorkflow(
            config_file=[str(bundle / "configs" / c) for c in configs],
            meta_file=str(bundle / "configs" / "metadata.json"),
            logging_file=str(bundle / "configs" / "logging.conf"),
            workflow_type=workflow_type,
            bundle_root=str(bundle),
            tta="true",
            **overrides,
        )
        workflow.initialize()
        evaluator = workflow.parser.get_parsed_content(evaluator_id)
        seen: list[tuple[torch.Tensor, torch.Tensor]] = []
        evaluator.add_event_handler(
            IterationEvents.FORWARD_COMPLETED,
            lambda engine: seen.append(
                (engine.state.output["image"].detach().clone(), engine.state.output["pred"].detach().clone())
            ),
        )
        workflow.run()
        workflow.finalize()
        self.assertGreater(len(seen), 0)

        network = evaluator.network.eval()
        inner = _inner_inferer(name)
        act = torch.sigmoid if activation == "sigmoid" else (lambda z: torch.softmax(z, dim=1))
        for image, pred in seen:
            with torch.no_grad():
                flipped = []
                for flip in flip_combinations(axes):
                    d = [a + 2 for a in flip]
                    flipped.append(act(torch.flip(inner(torch.flip(image, d), network), d)))
                expected = torch.stack(flipped).mean(0)
                plain = flipped[0]  # no flip: what --tta false predicts
            self.assertEqual(len(flipped), 4)
            torch.testing.assert_close(_plain(act(pred)), _plain(expected), atol=1e-5, rtol=1e-4)
            self.assertGreater(
                float((expected - plain).abs().max()), 1e-4
            )  # TTA changes the prediction (10x the tolerance)

        out = tmp / "out"
        written = {
            "2d_inference": out / "inference" / "masks",
            "2d_evaluate": out / "eval" / "metrics_summary.json",
            "ct_inference": out / "example_ct_sm_seg.nii.gz",
            "ct_evaluate": out / "predictions" / "example_ct_sm_seg.nii.gz",
        }[name]
        self.assertTrue(written.exists(), f"{written} not written")


if __name__ == "__main__":
    unittest.main()
