"""The MONAI bundle checks the model zoo runs, offline: metadata against the local schema, network input/output,
TorchScript export, and the workflow properties of train, Stage I, evaluate and inference."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

import torch
from monai.bundle import ConfigParser, ConfigWorkflow, ckpt_export, verify_metadata, verify_net_in_out
from parameterized import parameterized

from meddisseg_monai.data import DATASETS
from meddisseg_monai.schemas import METADATA_SCHEMA
from tests.utils import BUNDLE_ROOT, kvasir_datalist

CONFIGS = BUNDLE_ROOT / "configs"
META = str(CONFIGS / "metadata.json")
LOGGING = str(CONFIGS / "logging.conf")
SCHEMA = str(METADATA_SCHEMA)
CT_CONFIGS = BUNDLE_ROOT.parent / "meddisseg_ct_segmentation" / "configs"

TRAIN_WORKFLOWS = [
    ["stage1", ["train.json", "train_stage1.json"]],
    ["stage2", ["train.json"]],
    ["evaluate", ["train.json", "evaluate.json"]],
]
COMMON_OVERRIDES = ["dataset_dir", "datalist", "output_dir", "image_size", "batch_size", "num_workers", "device"]
OVERRIDE_CASES = [
    ["stage1", ["train.json", "train_stage1.json"], COMMON_OVERRIDES + ["epochs", "dataset_name"]],
    ["stage2", ["train.json"], COMMON_OVERRIDES + ["epochs", "dataset_name"]],
    ["evaluate", ["train.json", "evaluate.json"], COMMON_OVERRIDES + ["epochs", "dataset_name"]],
    ["inference", ["inference.json"], COMMON_OVERRIDES + ["input", "dataset_name"]],
]


def _parser(configs: list[str], **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / c) for c in configs])
    parser.read_meta(META)
    parser.update({"bundle_root": str(BUNDLE_ROOT), **overrides})
    return parser


class TestBundleChecks(unittest.TestCase):
    @parameterized.expand([["2d", CONFIGS], ["ct", CT_CONFIGS]])
    def test_verify_metadata_offline(self, _, configs):
        """One schema, shipped in the package, serves both bundles (MONAI's verify_metadata, no download)."""
        meta = str(configs / "metadata.json")
        verify_metadata(meta_file=meta, filepath=SCHEMA)
        metadata = json.loads(Path(meta).read_text())
        self.assertIn(metadata["version"], metadata["changelog"])
        self.assertEqual(set(metadata["network_data_format"]), {"inputs", "outputs"})

    def test_schema_rejects_incomplete_metadata(self):
        metadata = json.loads(Path(META).read_text())
        del metadata["network_data_format"]["outputs"]["pred"]["num_channels"]
        with tempfile.TemporaryDirectory() as tmp:
            broken = Path(tmp) / "metadata.json"
            broken.write_text(json.dumps(metadata))
            with self.assertRaisesRegex(ValueError, "num_channels"):
                verify_metadata(meta_file=str(broken), filepath=SCHEMA)

    @parameterized.expand([["2d", CONFIGS], ["ct", CT_CONFIGS]])
    def test_optimizer_is_fused_adam(self, _, configs):
        """Fused Adam: one kernel over all parameters (the per-parameter loop, PyTorch's CPU default, took ~7x longer
        per step on the 45 M parameters here), the same update to rounding."""
        parser = ConfigParser()
        parser.read_config(str(configs / "train.json"))
        parser.update({"bundle_root": str(configs.parent), "device": "cpu"})
        if "encoder_weights" in parser["network_def"]:  # the 2D Stage II network reads a Stage I checkpoint
            parser["network_def"]["encoder_weights"] = None
        optimizer = parser.get_parsed_content("optimizer")
        self.assertIsInstance(optimizer, torch.optim.Adam)
        self.assertTrue(optimizer.defaults["fused"])

    def test_fused_adam_equals_the_loop(self):
        torch.manual_seed(0)
        weights = [torch.randn(64, 32), torch.randn(128)]
        runs = {}
        for fused in (False, True):
            params = [w.clone().requires_grad_() for w in weights]
            optimizer = torch.optim.Adam(params, 1e-3, fused=fused, foreach=False if not fused else None)
            for step in range(3):
                for p in params:
                    p.grad = torch.sin(p.detach() * (step + 1))
                optimizer.step()
            runs[fused] = params
        for start, loop, fused in zip(weights, runs[False], runs[True]):
            self.assertGreater(float((loop - start).abs().max()), 1e-3)  # three steps of lr 1e-3 moved it
            self.assertLess(float((loop - fused).abs().max()), 1e-6)

    def test_verify_net_in_out(self):
        verify_net_in_out(
            net_id="network_def", meta_file=META, config_file=str(CONFIGS / "inference.json"), device="cpu", n=2
        )

    def test_ckpt_export_round_trip(self):
        network = _parser(["inference.json"]).get_parsed_content("network_def").eval()
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(network.state_dict(), f"{tmp}/model.pt")
            ckpt_export(
                net_id="network_def",
                filepath=f"{tmp}/model.ts",
                ckpt_file=f"{tmp}/model.pt",
                meta_file=META,
                config_file=str(CONFIGS / "inference.json"),
                bundle_root=str(BUNDLE_ROOT),
            )
            exported = torch.jit.load(f"{tmp}/model.ts")
        x = torch.rand(1, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(exported(x), network(x))

    @parameterized.expand(OVERRIDE_CASES)
    def test_documented_overrides_exist(self, _, configs, keys):
        parser = _parser(configs)
        for key in keys:
            self.assertIn(key, parser, f"{configs} has no '{key}' to override")

    @parameterized.expand([[name] for name in DATASETS])
    def test_dataset_is_one_override(self, name):
        parser = _parser(["train.json"], dataset_name=name)
        self.assertTrue(Path(parser.get_parsed_content("datalist")).is_file())
        self.assertEqual(parser.get_parsed_content("mask_threshold"), DATASETS[name].mask_threshold)
        self.assertEqual(Path(parser.get_parsed_content("dataset_dir")).name, DATASETS[name].folder)

    def test_stage1_network_initialises_stage2_encoder(self):
        stage1 = _parser(["train.json", "train_stage1.json"]).get_parsed_content("network_def")
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(stage1.state_dict(), f"{tmp}/model_stage1.pt")
            stage2 = _parser(["train.json"], stage1_model_file=f"{tmp}/model_stage1.pt").get_parsed_content(
                "network_def"
            )
        for key, value in stage1.encoder.state_dict().items():
            torch.testing.assert_close(stage2.encoder.state_dict()[key], value)


class TestWorkflowProperties(unittest.TestCase):
    """``ConfigWorkflow(...).check_properties()`` after ``initialize()`` on a few real Kvasir-SEG images."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.tmp = Path(cls._tmp.name)
        datalist, dataset_dir = kvasir_datalist(cls.tmp / "datalist.json", train=2, validation=1, test=1)
        cls.overrides = {
            "bundle_root": str(BUNDLE_ROOT),
            "dataset_dir": str(dataset_dir),
            "datalist": str(datalist),
            "output_dir": str(cls.tmp / "out"),
            "image_size": 32,
            "batch_size": 2,
            "num_workers": 0,
            "device": "cpu",
            "epochs": 1,
        }

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    @parameterized.expand(TRAIN_WORKFLOWS)
    def test_train_properties(self, _, configs):
        overrides = dict(self.overrides)
        if configs == ["train.json"]:
            overrides["stage1_model_file"] = None
        workflow = ConfigWorkflow(
            workflow_type="train",
            config_file=[str(CONFIGS / c) for c in configs],
            meta_file=META,
            logging_file=LOGGING,
            **overrides,
        )
        workflow.initialize()
        self.assertEqual(workflow.check_properties(), [])

    def test_infer_properties(self):
        models = self.tmp / "out" / "models"
        models.mkdir(parents=True, exist_ok=True)
        torch.save(_parser(["inference.json"]).get_parsed_content("network_def").state_dict(), models / "model.pt")
        workflow = ConfigWorkflow(
            workflow_type="infer",
            config_file=str(CONFIGS / "inference.json"),
            meta_file=META,
            logging_file=LOGGING,
            **{k: v for k, v in self.overrides.items() if k != "epochs"},
        )
        workflow.initialize()
        self.assertEqual(workflow.check_properties(), [])


if __name__ == "__main__":
    unittest.main()
