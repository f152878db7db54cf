"""The meddisseg_ct_segmentation bundle through MONAI's own bundle tools and ``python -m monai.bundle run``.

Small settings throughout (feature_channels 32, 32^3 patches, 8 mm voxels, one epoch): the point is the wiring, the
readers and writers, and that outputs land on the input's grid.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
import unittest
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, ckpt_export, verify_net_in_out
from monai.transforms import LoadImage
from parameterized import parameterized

from meddisseg_monai.data.ct import channel_def, label_lookup_table, organ_names
from meddisseg_monai.utils import resolve_autocast
from tests.utils import (
    PROVENANCE_FIELDS,
    REPO_ROOT,
    REPORT_COLUMNS,
    checked_output,
    report_base_columns,
    run_bundle,
    shared_data_path,
)

BUNDLE = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"
CONFIGS = BUNDLE / "configs"
SMALL = {"feature_channels": 32, "roi_size": [32, 32, 32], "spacing": [8.0, 8.0, 8.0], "sw_batch_size": 2}
# inference only: one 32^3 window per volume (the readers, the writer and the source grid are the point)
TINY_INFERENCE = {**SMALL, "feature_channels": 16, "spacing": [12.0, 12.0, 12.0]}


def run_ct_bundle(configs: list[str], overrides: dict, log: Path) -> None:
    """``python -m monai.bundle run`` in the bundle folder, as a user runs it; fails with the log's tail."""
    args = []
    for key, value in overrides.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    result = run_bundle([Path(c).name for c in configs], *args, bundle_root=BUNDLE)
    log.write_text(result.stdout + result.stderr)
    checked_output(result, "bundle run")


def random_checkpoint(path: Path, **overrides) -> None:
    """An untrained network of the inference config, saved as the bundle's models/model.pt would be."""
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser.update({**SMALL, **overrides})
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)


class TestBundleDefinition(unittest.TestCase):
    def test_metadata_describes_the_ct_network(
        self,
    ):  # the schema check of both bundles: tests/bundle/test_bundle_checks.py
        meta = json.loads((CONFIGS / "metadata.json").read_text())
        self.assertIn(meta["version"], meta["changelog"])
        pred = meta["network_data_format"]["outputs"]["pred"]
        self.assertEqual(pred["channel_def"], channel_def("btcv13"))  # the default label set
        self.assertEqual(pred["num_channels"], 14)
        self.assertEqual(len(meta["network_data_format"]["inputs"]["image"]["spatial_shape"]), 3)  # 3D for MONAI Label

    @parameterized.expand([["train", ["train.json"]], ["infer", ["inference.json"]]])
    def test_required_properties(self, workflow_type, configs):
        output_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, output_dir, True)
        workflow = ConfigWorkflow(
            config_file=[str(CONFIGS / c) for c in configs],
            meta_file=str(CONFIGS / "metadata.json"),
            logging_file=str(CONFIGS / "logging.conf"),
            workflow_type=workflow_type,
            bundle_root=str(BUNDLE),
            output_dir=output_dir,  # its TensorBoard handler writes there, not into the bundle
        )
        workflow.initialize()
        self.assertIsNone(workflow.check_properties() or None)

    @parameterized.expand([["btcv13", 14], ["synapse8", 9]])
    def test_label_set_is_one_override(self, label_set, classes):
        parser = ConfigParser()
        parser.read_config([str(CONFIGS / "train.json")])
        parser.update({"label_set": label_set, "bundle_root": str(BUNDLE), **SMALL})
        self.assertEqual(parser.get_parsed_content("network_def#out_channels"), classes)
        self.assertEqual(parser.get_parsed_content("loss").out_channels, classes)
        self.assertEqual(parser.get_parsed_content("train#loading#3").label_set, label_set)

    @parameterized.expand(
        [
            ["train", ["train.json"], "validate#inferer#inferer"],
            ["evaluate", ["train.json", "evaluate.json"], "validate#inferer#inferer"],
            ["inference", ["inference.json"], "inferer#inferer#inferer"],
        ]
    )
    def test_cpu_overlay_changes_only_existing_settings(self, _, configs, window_inferer):
        """``configs/cpu.json`` on top of each workflow: every name it sets is one the workflow already defines (an
        overlay that added a name would be silently unused), and the network and the sliding window take its values."""
        overlay = json.loads((CONFIGS / "cpu.json").read_text())
        base = ConfigParser()
        base.read_config([str(CONFIGS / c) for c in configs])
        self.assertEqual([k for k in overlay if k not in base.config], [])
        parser = ConfigParser()
        parser.read_config([str(CONFIGS / c) for c in [*configs, "cpu.json"]])
        parser.update({"bundle_root": str(BUNDLE)})

        def parameters(config: ConfigParser) -> int:
            return sum(p.numel() for p in config.get_parsed_content("network_def").parameters())

        self.assertLess(parameters(parser), parameters(base))
        self.assertEqual(parser.get_parsed_content("network_def#feature_channels"), overlay["feature_channels"])
        sliding_window = parser.get_parsed_content(window_inferer)
        self.assertEqual(tuple(sliding_window.roi_size), tuple(overlay["roi_size"]))
        self.assertEqual(sliding_window.sw_batch_size, overlay["sw_batch_size"])

    def test_verify_net_in_out(self):
        verify_net_in_out(
            net_id="network_def",
            meta_file=str(CONFIGS / "metadata.json"),
            config_file=str(CONFIGS / "inference.json"),
            n=2,  # spatial_shape "16*n" -> 32^3
            device="cpu",
            **{"network_def#feature_channels": 32},
        )

    def test_ckpt_export_round_trip(self):
        """``ckpt_export`` (TorchScript, as the zoo ships ``models/model.ts``) gives the eager network's output."""
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp, True)
        random_checkpoint(tmp / "model.pt")
        ckpt_export(
            net_id="network_def",
            filepath=str(tmp / "model.ts"),
            ckpt_file=str(tmp / "model.pt"),
            meta_file=str(CONFIGS / "metadata.json"),
            config_file=str(CONFIGS / "inference.json"),
            **{"network_def#feature_channels": SMALL["feature_channels"]},
        )
        parser = ConfigParser()
        parser.read_config(str(CONFIGS / "inference.json"))
        parser.update(SMALL)
        network = parser.get_parsed_content("network_def")
        network.load_state_dict(torch.load(tmp / "model.pt", weights_only=True))
        exported = torch.jit.load(str(tmp / "model.ts"))
        x = torch.rand(1, 1, 32, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(exported(x), network.eval()(x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
class TestBundleRuns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = shared_data_path("CT-TotalSegmentator-examples")
        cls.tmp = Path(tempfile.mkdtemp())
        random_checkpoint(cls.tmp / "untrained.pt")
        random_checkpoint(cls.tmp / "untrained_tiny.pt", **TINY_INFERENCE)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assert_on_source_grid(self, prediction: Path, source: Path, num_classes: int = 14):
        written = nib.load(prediction)
        original = LoadImage(image_only=True)(str(source))  # the same reader as the bundle (ITK for DICOM)
        self.assertEqual(written.shape, tuple(original.shape))
        np.testing.assert_allclose(written.affine, np.asarray(original.affine), atol=1e-3)
        self.assertEqual(written.get_data_dtype(), np.uint8)
        values = np.unique(np.asarray(written.dataobj))
        self.assertTrue(set(values.tolist()) <= set(range(num_classes)), values)

    def test_inference_nifti_and_dicom_past_a_truncated_volume(self):
        """A NIfTI volume, a truncated one and a DICOM series: the bad one is skipped with its name on the last line,
        the run exits non-zero, and the two good ones are written."""
        nifti, dicom = self.data / "example_ct_sm.nii.gz", self.data / "example_ct_dicom"
        truncated = self.tmp / "truncated.nii.gz"
        truncated.write_bytes(nifti.read_bytes()[:4000])
        out = self.tmp / "inference"
        overrides = {
            **TINY_INFERENCE,
            "input": [str(nifti), str(truncated), str(dicom)],
            "ckpt_path": str(self.tmp / "untrained_tiny.pt"),
            "output_dir": str(out),
        }
        args = [a for k, v in overrides.items() for a in (f"--{k}", v if isinstance(v, str) else json.dumps(v))]
        result = run_bundle(["inference.json"], *args, bundle_root=BUNDLE)
        output = result.stdout + result.stderr
        self.assertNotEqual(result.returncode, 0, output[-3000:])
        last = output.strip().splitlines()[-1]
        self.assertIn("1 of 3 input(s) could not be read", last)
        self.assertIn(str(truncated), last)
        self.assertIn(f"skipping inference input {truncated}", output)
        self.assert_on_source_grid(out / "example_ct_sm_seg.nii.gz", nifti)
        self.assert_on_source_grid(out / "example_ct_dicom_seg.nii.gz", dicom)
        self.assertFalse((out / "truncated_seg.nii.gz").exists())

    def test_train_then_evaluate(self):
        datalist = self.tmp / "datalist.json"
        case = {"image": "example_ct_sm.nii.gz", "label": "example_seg.nii.gz", "source_labels": "totalsegmentator_v2"}
        bad = {**case, "case": "nan_volume", "image": str(self.tmp / "nan.nii.gz")}
        ct = nib.load(self.data / "example_ct_sm.nii.gz")
        volume = np.asarray(ct.dataobj).astype(np.float32)
        volume[5, 5, 5] = np.nan
        nib.save(nib.Nifti1Image(volume, ct.affine), bad["image"])
        datalist.write_text(json.dumps({"training": [case], "validation": [case]}))
        common = {**SMALL, "dataset_dir": str(self.data), "datalist": str(datalist), "num_workers": 0, "cache_rate": 0}

        run_ct_bundle(
            ["configs/train.json"],
            {**common, "epochs": 1, "ckpt_dir": str(self.tmp / "models"), "output_dir": str(self.tmp / "train")},
            self.tmp / "train.log",
        )
        checkpoint = self.tmp / "models" / "model.pt"
        self.assertTrue(checkpoint.exists())
        self.assertIn("loss", (self.tmp / "train.log").read_text())
        # resumable as the 2D bundle: the same command with more epochs goes on from last.pt (LR schedule, early stop)
        last = torch.load(self.tmp / "models" / "last.pt", map_location="cpu", weights_only=True)
        self.assertEqual(set(last), {"model", "optimizer", "lr_scheduler", "trainer", "best_checkpoint", "early_stop"})
        self.assertEqual(last["trainer"]["iteration"], last["trainer"]["epoch_length"])  # one epoch
        run_ct_bundle(
            ["configs/train.json"],
            {**common, "epochs": 2, "ckpt_dir": str(self.tmp / "models"), "output_dir": str(self.tmp / "train")},
            self.tmp / "resume.log",
        )
        resume_log = (self.tmp / "resume.log").read_text()
        self.assertIn("Restored all variables from", resume_log)
        self.assertIn("Epoch: 2/2", resume_log)
        self.assertNotIn("Epoch: 1/2", resume_log)
        resumed = torch.load(self.tmp / "models" / "last.pt", map_location="cpu", weights_only=True)
        self.assertEqual(resumed["trainer"]["iteration"], 2 * last["trainer"]["iteration"], "epoch 1 not trained again")
        self.assertEqual(resumed["trainer"]["max_epochs"], 2)

        # evaluation of the trained network, with a bad case that must not stop the good one
        datalist.write_text(json.dumps({"training": [case], "validation": [case, bad]}))
        out = self.tmp / "evaluate"
        args = []
        for key, value in {**common, "ckpt_path": str(checkpoint), "output_dir": str(out)}.items():
            args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
        result = run_bundle(["train.json", "evaluate.json"], *args, bundle_root=BUNDLE)
        output = result.stdout + result.stderr
        self.assertNotEqual(result.returncode, 0, output[-3000:])  # a case was left out: the run says so at the end
        self.assertIn("1 of 2 input(s) could not be read", output.strip().splitlines()[-1])
        self.assert_on_source_grid(out / "predictions" / "example_ct_sm_seg.nii.gz", self.data / "example_ct_sm.nii.gz")
        summary = json.loads((out / "metrics_summary.json").read_text())
        self.assertEqual((summary["num_images"], summary["num_skipped"]), (1, 1))
        self.assertIn("nan.nii.gz", summary["skipped"][0]["image"])
        self.assertIn("NaN", summary["skipped"][0]["error"])
        with open(out / "metrics_per_image.csv") as stream:
            rows = list(csv.DictReader(stream))
        self.assertEqual([Path(r["image"]).name for r in rows], ["example_ct_sm.nii.gz"])
        organs = organ_names("btcv13")
        self.assertEqual(report_base_columns(list(rows[0]), organs), REPORT_COLUMNS)  # the 2D bundle's columns
        self.assertEqual(set(json.loads((out / "provenance.json").read_text())), PROVENANCE_FIELDS)
        for metric in ("dice", "dice_source_size", "hd95_source_size"):  # the class mean, then one column per organ
            columns = [c for c in rows[0] if c == metric or c.removeprefix(f"{metric}_") in organs]
            self.assertEqual(columns, [metric] + [f"{metric}_{o}" for o in organs])
        # the source-grid Dice per organ is that of the saved prediction and the label file, with the stated convention
        prediction = np.asarray(nib.load(out / "predictions" / "example_ct_sm_seg.nii.gz").dataobj).astype(int)
        seg = np.asarray(nib.load(self.data / "example_seg.nii.gz").dataobj).astype(int)
        truth = label_lookup_table("btcv13", "totalsegmentator_v2")[seg]
        for index, organ in enumerate(organs, start=1):
            p, t = prediction == index, truth == index
            expected = 1.0 if not p.any() and not t.any() else 2 * (p & t).sum() / (p.sum() + t.sum())
            self.assertAlmostEqual(float(rows[0][f"dice_source_size_{organ}"]), expected, places=4, msg=organ)
        self.assertIn("empty in both", summary["conventions"]["dice_source_size"])
        self.assertEqual(summary["classes"], list(organs))
        self.assertIn("over the classes with a finite value", summary["class_mean"])
        provenance = json.loads((out / "provenance.json").read_text())
        self.assertEqual(provenance["checkpoint"]["sha256"], hashlib.sha256(checkpoint.read_bytes()).hexdigest())
        self.assertEqual(provenance["datalist"]["sha256"], hashlib.sha256(datalist.read_bytes()).hexdigest())
        version = json.loads((CONFIGS / "metadata.json").read_text())["version"]
        self.assertEqual(provenance["versions"]["bundle"], version)
        self.assertEqual(provenance["precision"]["used"], resolve_autocast("auto", provenance["device"]) or "fp32")
        self.assertEqual(provenance["config"]["config"]["output_dir"], str(out))


@pytest.mark.slow
class TestSynapse2DProtocol(unittest.TestCase):
    """The Synapse protocol: a 2D network on axial slices, volumes reassembled by MONAI's SliceInferer."""

    def test_train_then_infer_on_volume(self):
        data = shared_data_path("CT-TotalSegmentator-examples")
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp, True)
        case = {"image": "example_ct_sm.nii.gz", "label": "example_seg.nii.gz", "source_labels": "totalsegmentator_v2"}
        (tmp / "datalist.json").write_text(json.dumps({"training": [case], "validation": [case]}))
        small = {"feature_channels": 32, "image_size": [32, 32], "num_samples": 2, "num_workers": 0, "cache_rate": 0}
        run_ct_bundle(
            ["configs/train.json", "configs/train_synapse2d.json"],
            {
                **small,
                "dataset_dir": str(data),
                "datalist": str(tmp / "datalist.json"),
                "epochs": 1,
                "ckpt_dir": str(tmp / "models"),
                "output_dir": str(tmp / "train"),
            },
            tmp / "train.log",
        )
        state = torch.load(tmp / "models" / "model.pt", map_location="cpu")
        self.assertEqual(state["encoder.conv1.weight"].ndim, 4)  # a 2D network
        self.assertEqual(state["head.refine.2.weight"].shape[0], 9)  # synapse8: 8 organs + background

        nifti = data / "example_ct_sm.nii.gz"
        run_ct_bundle(
            ["configs/inference.json", "configs/inference_synapse2d.json"],
            {  # training-only options (num_samples, cache_rate) are unknown to inference: an error there
                **{k: v for k, v in small.items() if k not in ("num_samples", "cache_rate")},
                "input": str(nifti),
                "ckpt_path": str(tmp / "models" / "model.pt"),
                "output_dir": str(tmp / "o"),
            },
            tmp / "inference.log",
        )
        TestBundleRuns.assert_on_source_grid(self, tmp / "o" / "example_ct_sm_seg.nii.gz", nifti, num_classes=9)


if __name__ == "__main__":
    unittest.main()
