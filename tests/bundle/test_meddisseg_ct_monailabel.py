"""The CT bundle served by a real MONAI Label 0.8.5 server on 127.0.0.1, over HTTP: by MONAI Label's ``monaibundle``
sample app as it is, and by this project's app (``monailabel_app/``), which says no to bad requests.

Runs from the separate environment of ``scripts/install_monailabel.sh`` (skipped when it is missing, unless
``MEDDISSEG_REQUIRE_MONAILABEL=1``, as in CI). The bundle copy inside the app gets the CPU-sized values that the
bundle README recommends for CPU users (feature_channels 32, 32^3 patches, 6 mm voxels) and an initial
``models/model.pt`` (the bundle ships no weights); everything else is the bundle as shipped.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import unittest
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from meddisseg_monai.data.ct import LABEL_SETS, label_lookup_table
from tests.monailabel_utils import (
    MonaiLabelError,
    MonaiLabelServer,
    add_study,
    configure_bundle,
    copy_app,
    download_app,
    initial_weights,
    install_bundle,
    skip_reason,
)
from tests.utils import REPO_ROOT, shared_data_path

BUNDLE = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"
MODEL = "meddisseg_ct"
CPU_SETTINGS = {"feature_channels": 32, "roi_size": [32, 32, 32], "spacing": [6.0, 6.0, 6.0], "num_workers": 0}


@pytest.mark.slow
class TestMonaiLabelServer(unittest.TestCase):
    def setUp(self):
        reason = skip_reason()
        if reason:
            if os.environ.get("MEDDISSEG_REQUIRE_MONAILABEL", "0") == "1":
                self.fail(f"MEDDISSEG_REQUIRE_MONAILABEL=1 but {reason}")
            self.skipTest(reason)
        self.data = shared_data_path("CT-TotalSegmentator-examples")
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def studies(self) -> Path:
        """Two labelled CTs (labels in the bundle's btcv13 ids, as MONAI Label keeps them) so that val_split 0.5 gives
        one training and one validation image."""
        studies = self.tmp / "studies"
        table = label_lookup_table("btcv13", "totalsegmentator_v2")
        for case, image, label in (
            ("ct_small", "example_ct_sm.nii.gz", "example_seg.nii.gz"),
            ("ct_full", "example_ct.nii.gz", "example_seg_fast_force_split.nii.gz"),
        ):
            source = nib.load(self.data / label)
            remapped = self.tmp / f"{case}_btcv13.nii.gz"
            labels = table[np.asarray(source.dataobj).astype(int)].astype(np.uint8)
            nib.save(nib.Nifti1Image(labels, source.affine), remapped)
            add_study(studies, case, self.data / image, label=remapped)
        return studies

    def test_info_infer_train(self):
        app = download_app(self.tmp / "apps")
        bundle = install_bundle(app, BUNDLE, MODEL)
        configure_bundle(bundle, CPU_SETTINGS)
        weights = initial_weights(bundle)
        studies = self.studies()

        with MonaiLabelServer(app, studies, models=MODEL) as server:
            # GET /info/: the model and its organ labels, from metadata.json's channel_def
            info = server.info()
            self.assertIn(MODEL, info["models"], info["models"].keys())
            model = info["models"][MODEL]
            expected = {organ: index + 1 for index, organ in enumerate(LABEL_SETS["btcv13"])}
            self.assertEqual(model["labels"], expected)
            self.assertEqual(model["dimension"], 3)

            # POST /infer on a real CT: a label volume on the input's grid with only the bundle's label ids
            result = server.infer(MODEL, "ct_small", out_path=self.tmp / "ct_small_seg.nii.gz")
            segmentation, source = nib.load(result), nib.load(self.data / "example_ct_sm.nii.gz")
            self.assertEqual(segmentation.shape, source.shape)
            np.testing.assert_allclose(segmentation.affine, source.affine, atol=1e-3)
            values = np.unique(np.asarray(segmentation.dataobj))
            self.assertTrue(set(values.tolist()) <= set(range(14)), values)

            # POST /train for one epoch: models/model.pt is rewritten with new weights of the same network
            before_time, before = weights.stat().st_mtime_ns, torch.load(weights, map_location="cpu")
            server.train(MODEL, {"max_epochs": 1, "val_split": 0.5}, timeout=1800)
            self.assertGreater(weights.stat().st_mtime_ns, before_time, server.log_tail())
            after = torch.load(weights, map_location="cpu")
            self.assertEqual(set(after), set(before))
            self.assertTrue(any(not torch.equal(after[k], before[k]) for k in before if before[k].is_floating_point()))

    def test_project_app_says_no(self):
        """The project's app: 4xx with a message for bad requests, labels checked when saved, uint8 labels back, and
        one labelled CT (no validation image at val_split 0.2) trains without validation instead of a silent 200."""
        app = copy_app(self.tmp / "apps")
        bundle = install_bundle(app, BUNDLE, MODEL)
        configure_bundle(bundle, CPU_SETTINGS)
        weights = initial_weights(bundle)
        studies = self.tmp / "studies"
        table = label_lookup_table("btcv13", "totalsegmentator_v2")
        source = nib.load(self.data / "example_seg.nii.gz")
        labels = table[np.asarray(source.dataobj).astype(int)].astype(np.uint8)
        good = self.tmp / "good_btcv13.nii.gz"
        nib.save(nib.Nifti1Image(labels, source.affine), good)
        add_study(studies, "ct_small", self.data / "example_ct_sm.nii.gz")
        outside = self.tmp / "outside.nii.gz"  # one voxel with id 20: outside btcv13 (0..13)
        wrong = labels.copy()
        wrong[0, 0, 0] = 20
        nib.save(nib.Nifti1Image(wrong, source.affine), outside)
        cropped = self.tmp / "cropped.nii.gz"
        nib.save(nib.Nifti1Image(labels[:, :, :10], source.affine), cropped)

        with MonaiLabelServer(app, studies, models=MODEL) as server:
            refusals = [
                (404, "no inference model 'no_such_model'", "/infer/no_such_model", {"image": "ct_small"}, "{}"),
                (404, "'no_such_image' is not in the datastore", f"/infer/{MODEL}", {"image": "no_such_image"}, "{}"),
                (422, "params is not valid JSON", f"/infer/{MODEL}", {"image": "ct_small"}, "{not json"),
            ]
            for status, words, path, query, params in refusals:
                with self.subTest(path=path, query=query, params=params):
                    with self.assertRaises(MonaiLabelError) as caught:
                        server.request("POST", path, params={"output": "image", **query}, form={"params": params})
                    self.assertEqual(caught.exception.status, status, caught.exception.body)
                    self.assertIn(words, json.loads(caught.exception.body)["detail"])
            for label, words in ((outside, "values 20 are outside the label map"), (cropped, "spatial size")):
                with self.subTest(label=label.name):
                    with self.assertRaises(MonaiLabelError) as caught:
                        server.save_label("ct_small", label)
                    self.assertEqual(caught.exception.status, 422, caught.exception.body)
                    self.assertIn(words, caught.exception.body)
            self.assertEqual(list((studies / "labels" / "final").glob("ct_small.*")), [])

            # the label comes back as the bundle writes it: uint8 ids on the input's grid
            result = server.infer(MODEL, "ct_small", out_path=self.tmp / "ct_small_seg.nii.gz")
            segmentation = nib.load(result)
            self.assertEqual(segmentation.get_data_dtype(), np.uint8)
            self.assertEqual(segmentation.shape, source.shape)
            self.assertTrue(set(np.unique(np.asarray(segmentation.dataobj)).tolist()) <= set(range(14)))

            # one labelled CT: no validation image -> trained without validation, final weights saved, said so
            server.save_label("ct_small", good)
            before = torch.load(weights, map_location="cpu")
            stats = server.train(MODEL, {"max_epochs": 1}, timeout=1800)
            self.assertEqual((stats["train_images"], stats["validation_images"]), (1, 0), stats)
            self.assertIn("trained without validation", stats["validation"])
            after = torch.load(weights, map_location="cpu")
            self.assertEqual(set(after), set(before))
            self.assertTrue(any(not torch.equal(after[k], before[k]) for k in before if before[k].is_floating_point()))
            self.assertEqual(server.info()["train_stats"][MODEL]["train_images"], 1)


if __name__ == "__main__":
    unittest.main()
