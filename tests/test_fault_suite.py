"""The fault suite (issue 12): every bad input or fault a new user met, and what the project must do about it.

Each table row is one fault, made on real files from the shared data (Kvasir-SEG images, the CT examples) or real
PyTorch / JSON files, and run through the real MONAI / Ignite pieces the bundles use. Each case takes seconds; the
one bundle command line (an override typo) stops before any work.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from ignite.engine import Events
from ignite.handlers import Checkpoint
from monai.data import DataLoader
from monai.engines import SupervisedTrainer
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd
from parameterized import parameterized
from PIL import Image

from meddisseg_monai.data import (
    DatalistError,
    InferenceInputs,
    OutputNames,
    SkipFailedInputs,
    SkippingDataset,
    load_datalist,
    unique_output_names,
)
from meddisseg_monai.data.ct import load_ct_cases
from meddisseg_monai.handlers import (
    CheckedCheckpointLoader,
    CheckpointError,
    FiniteDiskSaver,
    NonFiniteError,
    NonFiniteGuard,
    check_state_dict,
    read_checkpoint,
    read_history,
)
from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1
from meddisseg_monai.transforms.ct import CheckCTVolumed, CheckSameGridd, RemapOrganLabelsd
from meddisseg_monai.utils import (
    OutputFolderError,
    check_image_size,
    check_overrides,
    check_writable,
    trained_image_size,
    write_training_record,
)
from meddisseg_monai.utils.command_line import UnknownOverrideError
from tests.utils import (
    BUNDLE_ROOT,
    REPO_ROOT,
    bundle_copy,
    bundle_overrides,
    checked_output,
    kvasir_batch,
    kvasir_datalist,
    run_bundle,
    shared_data_path,
)

CT_BUNDLE = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"


class _Tmp(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, True)


# ---------------------------------------------------------------------------------------------------------------
# 1. non-finite loss or gradient: training stops, naming the iteration and the term; nothing non-finite is saved
class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def _nan_image(images, labels):
    images = images.clone()
    images[2, 0, 5, 5] = float("nan")  # the first image of the second batch
    return images, labels


def _dice_loss(pred, label):
    return torch.nn.functional.binary_cross_entropy_with_logits(pred, label)


class _TotalWithTerms(torch.nn.Module):
    """A composite loss as this package's: the total returned, its detached terms in ``last_terms``."""

    def forward(self, pred, label):
        self.last_terms = {"mask": torch.tensor(0.5), "dispersive": torch.tensor(float("inf"))}
        return sum(self.last_terms.values())


def _sqrt_at_zero(pred, label):
    return (pred * 0).abs().sqrt().sum()  # finite (0) loss, NaN gradient


# name, how the data is spoilt, loss, text the error must contain
NON_FINITE_TRAINING = [
    ["nan_pixel_in_batch_2", _nan_image, _dice_loss, "iteration 2: the loss is not finite (loss = nan)"],
    ["nan_gradient_finite_loss", lambda x, y: (x, y), _sqrt_at_zero, "iteration 1: the gradient of 2 parameter(s)"],
]


class TestNonFiniteTraining(_Tmp):
    @parameterized.expand(NON_FINITE_TRAINING)
    def test_training_stops_and_names_it(self, _, spoil, loss, message):
        images, labels = spoil(*kvasir_batch(count=4, size=32, with_masks=True))
        loader = [{"image": images[i : i + 2], "label": labels[i : i + 2]} for i in (0, 2)]
        network = _Net()
        trainer = SupervisedTrainer(
            device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=network,
            optimizer=torch.optim.SGD(network.parameters(), lr=0.1), loss_function=loss,
            train_handlers=[NonFiniteGuard()],
        )  # fmt: skip
        last = Checkpoint(
            {"model": network}, FiniteDiskSaver(str(self.tmp), require_empty=False), filename_prefix="last"
        )
        trainer.add_event_handler(Events.EPOCH_COMPLETED | Events.COMPLETED, last)
        with self.assertRaises(NonFiniteError) as caught:
            trainer.run()
        self.assertIn(message, str(caught.exception))
        self.assertEqual(list(self.tmp.iterdir()), [])  # the epoch never completed: no "last" checkpoint
        for parameter in network.parameters():  # the bad step was never taken
            self.assertTrue(torch.isfinite(parameter).all())

    @parameterized.expand(
        [
            ["dict_of_terms", lambda *_: {"loss": torch.tensor(1.0), "dispersive": torch.tensor(float("inf"))}],
            ["total_with_last_terms", _TotalWithTerms()],
        ]
    )
    def test_a_non_finite_term_is_named(self, _, loss):
        network = _Net()
        trainer = SupervisedTrainer(
            device=torch.device("cpu"), max_epochs=1, train_data_loader=[], network=network,
            optimizer=torch.optim.SGD(network.parameters(), lr=0.1), loss_function=loss,
        )  # fmt: skip
        NonFiniteGuard.wrap_loss(trainer)
        with self.assertRaisesRegex(NonFiniteError, "dispersive = inf"):
            trainer.loss_function(None, None)

    def test_no_checkpoint_with_nan_weights(self):
        network = _Net()
        with torch.no_grad():
            network.conv.weight[0, 0, 0, 0] = float("nan")
        saver = FiniteDiskSaver(str(self.tmp), require_empty=False)
        with self.assertRaisesRegex(NonFiniteError, "model.conv.weight"):
            saver({"model": network.state_dict()}, "last.pt")
        self.assertFalse((self.tmp / "last.pt").exists())


# ---------------------------------------------------------------------------------------------------------------
# 2. overrides: a name no config defines is an error with the nearest names; the trained image size is recorded
TRAIN_2D = [str(BUNDLE_ROOT / "configs" / "train.json")]
INFER_2D = [str(BUNDLE_ROOT / "configs" / "inference.json")]
EVAL_CT = [str(CT_BUNDLE / "configs" / "train.json"), str(CT_BUNDLE / "configs" / "evaluate.json")]

# name, config files, override names, text of the error (None: accepted)
OVERRIDES = [
    ["epoch_typo", TRAIN_2D, ["epoch"], "--epoch (did you mean --epochs?)"],
    ["image_size_typo", INFER_2D, ["image_sise"], "--image_sise (did you mean --image_size?)"],
    ["nested_typo", TRAIN_2D, ["train#datset#cache_rate"], "did you mean --train#dataset#cache_rate,"],
    ["unknown_ct", EVAL_CT, ["label_sett"], "did you mean --label_set"],
    ["valid_names", TRAIN_2D, ["epochs", "train#dataset#cache_rate", "validate::dataloader::num_workers"], None],
    ["component_argument", TRAIN_2D, ["network_def#dropout"], None],
    ["run_arguments", EVAL_CT, ["config_file", "meta_file", "logging_file"], None],
]


class TestOverrides(_Tmp):
    @parameterized.expand(OVERRIDES)
    def test_unknown_names_are_refused(self, _, configs, names, message):
        if message is None:
            check_overrides(names, configs)
            return
        with self.assertRaises(UnknownOverrideError) as caught:
            check_overrides(names, configs)
        self.assertIn(message, str(caught.exception))

    def test_command_line_stops_before_work_with_the_cause_last(self):
        result = run_bundle(["inference.json"], "--input", str(self.tmp), "--image_sise", "64", timeout=300)
        self.assertNotEqual(result.returncode, 0)
        last = result.stderr.strip().splitlines()[-1]
        self.assertIn("meddisseg: error: UnknownOverrideError", last)
        self.assertIn("--image_size", last)
        self.assertFalse((bundle_copy() / "inference").exists())

    @parameterized.expand([[64, 64, True], [[64, 48], 256, False]])
    def test_trained_image_size(self, recorded, given, agrees):
        model = self.tmp / "model.pt"
        self.assertEqual(trained_image_size(model, 256), 256)  # nothing recorded: the default
        write_training_record(model, {"image_size": recorded})
        self.assertEqual(trained_image_size(model, 256), recorded)
        with self.assertLogs("meddisseg_monai.utils.training_record", "WARNING") if not agrees else _no_logs():
            self.assertEqual(check_image_size(model, given), agrees)


class _no_logs:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


# ---------------------------------------------------------------------------------------------------------------
# 3. outputs never collide; cases are named by their entry
OUTPUT_NAMES = [
    ["unique_stems", ["/d/x.png", "/d/y.png"], ["x", "y"]],
    ["same_file_name", ["/d/s1/ct.nii.gz", "/d/s2/ct.nii.gz"], ["s1_ct", "s2_ct"]],
    [
        "deeper_clash",
        ["/d/a/s/image.nii.gz", "/d/b/s/image.nii.gz", "/d/c/other.nii.gz"],
        ["a_s_image", "b_s_image", "other"],
    ],
    ["extension_only_differs", ["/d/x.png", "/d/x.jpg"], ["d_x", "d_x_2"]],
    ["dots_in_name", ["/d/a/img.v2.nii.gz", "/d/b/img.v2.nii.gz"], ["a_img.v2", "b_img.v2"]],
]


class TestOutputNames(unittest.TestCase):
    @parameterized.expand(OUTPUT_NAMES)
    def test_names_are_unique(self, _, paths, expected):
        self.assertEqual(list(unique_output_names(paths).values()), expected)

    def test_table_from_the_engine_when_it_starts(self):
        from monai.data import DataLoader, Dataset
        from monai.engines import SupervisedEvaluator

        names = OutputNames()
        self.assertEqual(names.name("/d/s1/ct.nii.gz"), "ct")  # no table yet: the stem
        data = [{"image": "/d/s1/ct.nii.gz"}, {"image": "/d/s2/ct.nii.gz"}]
        evaluator = SupervisedEvaluator(
            device=torch.device("cpu"), val_data_loader=DataLoader(Dataset(data)), network=torch.nn.Identity(),
            val_handlers=[names],
        )  # fmt: skip
        evaluator.fire_event(Events.STARTED)
        self.assertEqual([names.name(d["image"]) for d in data], ["s1_ct", "s2_ct"])

    def test_save_imaged_formatter(self):
        names = OutputNames(["/d/s1/ct.nii.gz", "/d/s2/ct.nii.gz"])
        from monai.data import FolderLayout

        layout = FolderLayout("/out", postfix="seg", extension=".nii.gz")
        written = {
            str(layout.filename(**names({"filename_or_obj": p}))) for p in ("/d/s1/ct.nii.gz", "/d/s2/ct.nii.gz")
        }
        self.assertEqual(written, {"/out/s1_ct_seg.nii.gz", "/out/s2_ct_seg.nii.gz"})


# ---------------------------------------------------------------------------------------------------------------
# 3 + 4. CT evaluation: entries sharing a file name are all reported; nothing evaluated is an error
def _ct_loading() -> Compose:
    keys = ["image", "label"]
    return Compose(
        [
            LoadImaged(keys, image_only=True),
            EnsureChannelFirstd(keys),
            CheckCTVolumed(keys),
            RemapOrganLabelsd("label", "btcv13", source="totalsegmentator_v2"),
            Orientationd(keys, axcodes="RAS", labels=None),
            CheckSameGridd(keys),
        ]
    )


# name, case folders -> label kind ("good" / "bad_ids" / "other_grid"), evaluated, failed
CT_EVALUATIONS = [
    ["same_name_both_good", {"a": "good", "b": "good"}, 2, 0],
    ["same_name_good_and_bad", {"a": "good", "b": "bad_ids"}, 1, 1],
    ["every_case_fails", {"a": "bad_ids", "b": "other_grid"}, 0, 2],
]


class TestCTEvaluationFaults(_Tmp):
    @classmethod
    def setUpClass(cls):
        cls.data = shared_data_path("CT-TotalSegmentator-examples")

    def _case(self, folder: str, kind: str) -> dict:
        (self.tmp / folder).mkdir()
        image = self.tmp / folder / "image.nii.gz"
        shutil.copyfile(self.data / "example_ct_sm.nii.gz", image)
        seg = nib.load(self.data / "example_seg.nii.gz")
        values = np.asarray(seg.dataobj).astype(np.int16)
        affine = seg.affine.copy()
        if kind == "bad_ids":
            values[0, 0, 0] = 500  # outside TotalSegmentator's 117 ids
        if kind == "other_grid":
            affine[0, 3] += 10.0
        label = self.tmp / folder / "label.nii.gz"
        nib.save(nib.Nifti1Image(values, affine), label)
        return {"image": str(image), "label": str(label), "source_labels": "totalsegmentator_v2"}

    @parameterized.expand(CT_EVALUATIONS)
    def test_every_entry_is_reported(self, _, folders, evaluated, failed):
        """The evaluate workflow's loading (SkippingDataset + SkipFailedInputs, no pre-pass): a bad case is left out
        naming its file and the reason, the others go on, and the run's last step fails when any was left out."""
        cases = [self._case(folder, kind) for folder, kind in folders.items()]
        loader = DataLoader(SkippingDataset(cases, _ct_loading()), batch_size=1)
        inputs = SkipFailedInputs(loader, "CT evaluation cases")
        loaded = [batch["image"].meta["filename_or_obj"][0] for batch in inputs]
        self.assertEqual((len(loaded), len(inputs.skipped)), (evaluated, failed))
        reported = sorted(loaded + [path for path, _ in inputs.skipped])
        self.assertEqual(reported, sorted(case["image"] for case in cases))  # every entry, though the names repeat
        for path, reason in inputs.skipped:
            self.assertIn("label.nii.gz", reason)  # the bad file is the label: named in the reason
        if failed:
            expected = "none of the" if not evaluated else f"{failed} of {len(cases)} input"
            with self.assertRaisesRegex(DatalistError, expected):
                inputs.finish()
        else:
            inputs.finish()


# ---------------------------------------------------------------------------------------------------------------
# 5. errors about a file name the file and say what is wrong
def _truncated_checkpoint(tmp: Path) -> Path:
    path = tmp / "model.pt"
    torch.save(_Net().state_dict(), path)
    path.write_bytes(path.read_bytes()[:1000])
    return path


def _text_file(tmp: Path) -> Path:
    (tmp / "model.pt").write_text("not a checkpoint")
    return tmp / "model.pt"


def _empty_file(tmp: Path) -> Path:
    (tmp / "model.pt").write_bytes(b"")
    return tmp / "model.pt"


# name, how the file is made, text of the error
BAD_CHECKPOINTS = [
    ["truncated_to_1000_bytes", _truncated_checkpoint, "(1000 bytes) cannot be read: it is truncated"],
    ["not_pytorch", _text_file, "cannot be read: it is truncated or not a PyTorch checkpoint"],
    ["empty", _empty_file, "is empty (0 bytes)"],
    ["missing", lambda tmp: tmp / "nowhere.pt", "not found"],
]


class TestFileErrors(_Tmp):
    @parameterized.expand(BAD_CHECKPOINTS)
    def test_unreadable_checkpoint(self, _, make, message):
        path = make(self.tmp)
        with self.assertRaises((CheckpointError, FileNotFoundError)) as caught:
            read_checkpoint(path)
        self.assertIn(str(path), str(caught.exception))
        self.assertIn(message, str(caught.exception))

    def test_stage1_checkpoint_as_stage2_model(self):
        path = self.tmp / "model_stage1.pt"
        torch.save(MedDisSegStage1(spatial_dims=2).state_dict(), path)
        network = MedDisSeg(spatial_dims=2, in_channels=3, out_channels=1)
        loader = CheckedCheckpointLoader(load_path=str(path), load_dict={"model": network}, map_location="cpu")
        trainer = SupervisedTrainer(
            device=torch.device("cpu"), max_epochs=1, train_data_loader=[], network=network,
            optimizer=torch.optim.SGD(network.parameters(), lr=0.1), loss_function=_dice_loss,
        )  # fmt: skip
        with self.assertRaises(CheckpointError) as caught:
            loader(trainer)
        message = str(caught.exception)
        self.assertIn(str(path), message)
        self.assertIn("This is a Stage I checkpoint", message)
        self.assertEqual(len(message.splitlines()), 1)

    def test_other_network_is_named(self):
        ct_state = {"encoder.conv1.weight": torch.zeros(64, 1, 7, 7, 7), "decoupling.x.weight": torch.zeros(1)}
        with self.assertRaisesRegex(CheckpointError, "holds a Stage II MedDisSeg with spatial_dims=3, in_channels=1"):
            check_state_dict(_Net(), ct_state, "ct.pt")

    @parameterized.expand([["2d", "2d"], ["ct", "ct"]])
    def test_malformed_datalist_names_path_and_position(self, _, kind):
        path = self.tmp / "list.json"
        path.write_text('{"training": [\n  {"image": "a.jpg",}\n]}')
        with self.assertRaises(DatalistError) as caught:
            load_datalist(path, "training", self.tmp) if kind == "2d" else load_ct_cases(path, self.tmp, "training")
        self.assertIn(str(path), str(caught.exception))
        self.assertIn("line 2, column", str(caught.exception))

    @parameterized.expand([["a_file_in_the_way", "out"], ["under_a_file", "out/sub"]])
    def test_output_folder_checked_first(self, _, folder):
        (self.tmp / "out").write_text("a file")
        with self.assertRaisesRegex(OutputFolderError, "output folder .*out"):
            check_writable(self.tmp / folder)
        check_writable(self.tmp / "fine" / "nested")  # created
        self.assertTrue((self.tmp / "fine" / "nested").is_dir())

    def test_last_line_is_the_root_cause(self):
        script = (
            "import sys; sys.argv[0] = 'x'\n"
            "from meddisseg_monai.utils import install_error_summary\n"
            "install_error_summary()\n"
            "try:\n    open('/nonexistent/file.json')\n"
            "except OSError as e:\n    raise RuntimeError('Failed to evaluate ConfigExpression') from e\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 1)
        last = result.stderr.strip().splitlines()[-1]
        self.assertIn("meddisseg: error: FileNotFoundError", last)
        self.assertIn("/nonexistent/file.json", last)


# ---------------------------------------------------------------------------------------------------------------
# 6. inference on a folder skips an unreadable file, names it, and fails at the end
# name, files of the folder ("good" real Kvasir images, "text", "truncated"), readable count
INFERENCE_FOLDERS = [
    ["one_non_image", ["good", "good", "text"], 2],
    ["truncated_jpeg", ["good", "truncated"], 1],
    ["all_good", ["good", "good"], 2],
]


class TestInferenceInputs(_Tmp):
    def _folder(self, kinds):
        source = sorted((shared_data_path("Kvasir-SEG") / "images").glob("*.jpg"))
        for index, kind in enumerate(kinds):
            path = self.tmp / f"{index}_{kind}.jpg"
            if kind == "text":
                path.write_text("not an image")
            else:
                shutil.copyfile(source[index], path)
                if kind == "truncated":
                    path.write_bytes(path.read_bytes()[:500])
        return self.tmp

    @parameterized.expand(INFERENCE_FOLDERS)
    def test_bad_files_are_skipped_and_reported(self, _, kinds, readable):
        inputs = InferenceInputs(self._folder(kinds))
        self.assertEqual(len(inputs.items), readable)
        bad = [p for p, _ in inputs.skipped]
        self.assertEqual(len(bad), len(kinds) - readable)
        if bad:
            with self.assertRaisesRegex(DatalistError, f"could not be read.*{os.path.basename(bad[0])}"):
                inputs.finish()
        else:
            inputs.finish()

    def test_nothing_readable_is_an_error(self):
        with self.assertRaisesRegex(DatalistError, "none of the 1 input"):
            InferenceInputs(self._folder(["text"]))


# 6 (CT): a folder of volumes is read once, by the inference config's own transforms; a bad volume is skipped by name
# name, volumes of the folder ("good": a crop of the shared CT; the others spoilt), how many are segmented
CT_FOLDERS = [
    ["truncated_gzip", ["good", "truncated", "good"], 2],
    ["not_nifti_and_nan", ["text", "good", "nan"], 1],
    ["flat_and_4d", ["2d", "4d", "good"], 1],
    ["all_good", ["good", "good"], 2],
]


def _ct_folder_volume(path: Path, kind: str) -> None:
    if kind == "text":
        path.write_text("not a volume")
        return
    made = _ct_volume(path.parent, "none" if kind in ("good", "truncated") else kind)
    os.replace(made["image"], path)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:3000])


class TestCTFolderInference(_Tmp):
    @parameterized.expand(CT_FOLDERS)
    def test_bad_volumes_are_skipped_by_name(self, _, kinds, segmented):
        from monai.bundle import ConfigParser
        from monai.data import DataLoader

        from meddisseg_monai.data import SkipFailedInputs, SkippingDataset
        from meddisseg_monai.data.ct import resolve_ct_inputs

        folder = self.tmp / "volumes"
        folder.mkdir()
        for index, kind in enumerate(kinds):
            _ct_folder_volume(folder / f"{index}_{kind}.nii.gz", kind)
        parser = ConfigParser()
        parser.read_config(str(CT_BUNDLE / "configs" / "inference.json"))
        parser.update({"spacing": [8.0, 8.0, 8.0]})
        dataset = SkippingDataset(resolve_ct_inputs(str(folder)), transform=parser.get_parsed_content("preprocessing"))
        inputs = SkipFailedInputs(DataLoader(dataset, batch_size=1, num_workers=0))
        with self.assertLogs("meddisseg_monai.data.skipping", "WARNING") if segmented < len(kinds) else _no_logs():
            batches = list(inputs)
        self.assertEqual(len(batches), segmented)
        self.assertEqual(inputs.processed, segmented)
        skipped = sorted(os.path.basename(path) for path, _ in inputs.skipped)
        self.assertEqual(skipped, sorted(f"{i}_{k}.nii.gz" for i, k in enumerate(kinds) if k != "good"))
        if skipped:
            with self.assertRaisesRegex(DatalistError, f"{len(skipped)} of {len(kinds)} input.*{skipped[0]}"):
                inputs.finish()
        else:
            inputs.finish()


# 6 (2D): a very large image is averaged down first, and its prediction still lands on the source size
class TestLargeImage(_Tmp):
    def test_large_jpeg_through_the_inference_preprocessing(self):
        from monai.bundle import ConfigParser
        from monai.data import MetaTensor
        from monai.transforms import Invertd

        source = sorted((shared_data_path("Kvasir-SEG") / "images").glob("*.jpg"))[0]
        path = self.tmp / "large.jpg"
        Image.open(source).convert("RGB").resize((3000, 2200)).save(path)
        parser = ConfigParser()
        parser.read_config(str(BUNDLE_ROOT / "configs" / "inference.json"))
        parser.update({"image_size": 64, "model_file": str(self.tmp / "none.pt")})
        preprocessing = parser.get_parsed_content("preprocessing")
        data = preprocessing({"image": str(path)})
        self.assertEqual(tuple(data["image"].shape), (3, 64, 64))
        names = [op["class"] for op in data["image"].applied_operations]
        self.assertIn("ShrinkLarge", names)  # 3000 x 2200 > 8 x 64: averaged to 512 x 512 first
        data["pred"] = MetaTensor(torch.rand(1, 64, 64), applied_operations=data["image"].applied_operations)
        inverted = Invertd("pred", transform=preprocessing, orig_keys="image", nearest_interp=False)(data)["pred"]
        self.assertEqual(tuple(inverted.shape), (1, 3000, 2200))  # rows first, as the bundle reads images

    def test_the_largest_kvasir_image_is_untouched_at_256(self):
        """1920 px at most, within 8 x 256: the network input is the very tensor of the plain anti-aliased resize."""
        from monai.bundle import ConfigParser

        images = sorted((shared_data_path("Kvasir-SEG") / "images").glob("*.jpg"))
        largest = max(images, key=lambda p: max(Image.open(p).size))
        inputs = []
        for factor in (8, 0):
            parser = ConfigParser()
            parser.read_config(str(BUNDLE_ROOT / "configs" / "inference.json"))
            parser.update({"image_size": 256, "model_file": str(self.tmp / "none.pt"), "shrink_large_factor": factor})
            inputs.append(parser.get_parsed_content("preprocessing")({"image": str(largest)})["image"].as_tensor())
        self.assertEqual(max(Image.open(largest).size), 1920)
        self.assertTrue(torch.equal(inputs[0], inputs[1]))


# ---------------------------------------------------------------------------------------------------------------
# the solid cases of the probes (kept true here; tests/data/test_validation.py and tests/transforms/test_ct.py hold
# the detailed tables): bad inputs are refused before work, naming the file
def _kvasir_pair(tmp: Path, spoil: str) -> dict:
    folder = shared_data_path("Kvasir-SEG")
    name = sorted((folder / "images").glob("*.jpg"))[0].name
    image, mask = tmp / name, tmp / f"mask_{name}"
    shutil.copyfile(folder / "images" / name, image)
    shutil.copyfile(folder / "masks" / name, mask)
    if spoil == "truncated":
        image.write_bytes(image.read_bytes()[:600])
    elif spoil == "not_an_image":
        image.write_text("<html>not an image</html>")
    elif spoil == "mismatched":
        Image.open(mask).resize((32, 32)).save(mask)
    return {"image": str(image), "label": str(mask)}


def _ct_volume(tmp: Path, spoil: str) -> dict:
    ct = nib.load(shared_data_path("CT-TotalSegmentator-examples", "example_ct_sm.nii.gz"))
    volume = np.asarray(ct.dataobj).astype(np.float32)[:32, :32, :8]
    if spoil == "nan":
        volume[3, 3, 3] = np.nan
    elif spoil == "2d":
        volume = volume[:, :, 0]
    elif spoil == "4d":
        volume = np.stack([volume, volume], -1)
    path = tmp / f"{spoil}.nii.gz"
    nib.save(nib.Nifti1Image(volume, ct.affine), path)
    return {"image": str(path)}


# name, how the input is made, the check, text of the error
SOLID_INPUTS = [
    ["truncated_jpeg", lambda t: _kvasir_pair(t, "truncated"), "2d", "image cannot be read"],
    ["not_an_image", lambda t: _kvasir_pair(t, "not_an_image"), "2d", "image cannot be read"],
    ["size_mismatch", lambda t: _kvasir_pair(t, "mismatched"), "2d", "but its mask"],
    ["nan_voxels", lambda t: _ct_volume(t, "nan"), "ct", "NaN"],
    ["2d_volume", lambda t: _ct_volume(t, "2d"), "ct", "2D image"],
    ["4d_volume", lambda t: _ct_volume(t, "4d"), "ct", "4D image"],
]


class TestSolidInputs(_Tmp):
    @parameterized.expand(SOLID_INPUTS)
    def test_refused_naming_the_file(self, _, make, kind, message):
        from meddisseg_monai.data import check_items
        from meddisseg_monai.utils.command_line import describe_root_cause as describe_error

        item = make(self.tmp)
        with self.assertRaises(Exception) as caught:
            if kind == "2d":
                check_items([item])
            else:
                Compose([LoadImaged("image", image_only=True), EnsureChannelFirstd("image"), CheckCTVolumed("image")])(
                    item
                )
        text = describe_error(caught.exception)
        self.assertIn(os.path.basename(item["image"]), text)
        self.assertIn(message, text)


class TestKillAndSameSeed(_Tmp):
    """kill -9 in the middle of training, then the same command again: it resumes from the last complete epoch (the
    checkpoint written atomically, the history kept); and two runs with the same seed train identically (the killed
    run's first epoch equals an uninterrupted run's)."""

    def _command(self, output: Path, epochs: int) -> list[str]:
        datalist, folder = kvasir_datalist(self.tmp / "list.json", train=4, validation=2, test=1)
        config_files = "['configs/train.json']"
        return [
            sys.executable, "-m", "monai.bundle", "run", "--config_file", config_files,
            *bundle_overrides(datalist, folder, output, image_size=32, batch_size=2),
            "--network_def#feature_channels", "8", "--epochs", str(epochs), "--progress_bar", "false",
            "--dispersive_log_interval", "0", "--seed", "0", "--stage1_model_file", "",  # from scratch, no Stage I
        ]  # fmt: skip

    def test_kill_9_then_resume(self):
        reference = self.tmp / "reference"
        checked_output(
            subprocess.run(self._command(reference, 1), cwd=BUNDLE_ROOT, capture_output=True, text=True, timeout=600),
            "uninterrupted run",
        )
        killed = self.tmp / "killed"
        history_file = killed / "logs" / "stage2" / "history.json"
        last = killed / "models" / "last.pt"
        with open(self.tmp / "killed.log", "w") as log:
            process = subprocess.Popen(self._command(killed, 3), cwd=BUNDLE_ROOT, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 300
                while not (last.exists() and read_history(history_file)) and process.poll() is None:
                    self.assertLess(time.monotonic(), deadline, "no epoch completed in 300 s")
                    time.sleep(0.2)
                os.kill(process.pid, signal.SIGKILL)
            finally:
                process.wait()
        self.assertEqual(process.returncode, -signal.SIGKILL, "the run ended before it could be killed")
        self.assertEqual(read_checkpoint(last)["trainer"]["iteration"], 2)  # epoch 1 whole, not a torn file
        before = read_history(history_file)
        checked_output(
            subprocess.run(self._command(killed, 3), cwd=BUNDLE_ROOT, capture_output=True, text=True, timeout=600),
            "resumed run",
        )
        history = read_history(history_file)
        self.assertEqual([e["epoch"] for e in history], [1, 2, 3])
        self.assertEqual(history[0], before[0])  # the epoch before the kill is kept, not retrained
        self.assertEqual(history[-1]["iteration"], 6)  # 2 steps an epoch: nothing trained twice
        first = read_history(reference / "logs" / "stage2" / "history.json")[0]
        for key in ("train_loss", "train_mask", "val_mean_dice", "val_mask_loss"):
            self.assertEqual(history[0][key], first[key], key)  # same seed, same first epoch, to the last bit


if __name__ == "__main__":
    unittest.main()
