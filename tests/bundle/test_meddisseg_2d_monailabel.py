"""The 2D bundle served by a real MONAI Label 0.8.5 server on 127.0.0.1 with this project's app (``monailabel_app/``).

A studies folder of real Kvasir-SEG frames (JPEG) is the datastore. The bundle copy inside the app gets the CPU-sized
values of the other 2D bundle tests (64x64, batch 2, no worker processes) and an initial ``models/model.pt`` (the
bundle ships no weights). Checked over HTTP: ``/info/``, ``/infer`` (a 0/255 uint8 PNG of the frame's own size),
labels saved through ``PUT /datastore/label`` and checked against the label map, ``/train`` for one epoch that
rewrites ``models/model.pt`` and is used by the next ``/infer``, training with too few labels, concurrent requests,
and bad input answered with a 4xx and a message while the server stays up.

Runs from the separate environment of ``scripts/install_monailabel.sh`` (skipped when it is missing, unless
``MEDDISSEG_REQUIRE_MONAILABEL=1``, as in CI).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from parameterized import parameterized
from PIL import Image

from tests.monailabel_utils import (
    MonaiLabelError,
    MonaiLabelServer,
    add_study,
    configure_bundle,
    copy_app,
    initial_weights,
    install_bundle,
    skip_reason,
)
from tests.utils import BUNDLE_ROOT, shared_data_path

MODEL = "meddisseg_2d"
CPU_SETTINGS = {"image_size": 64, "batch_size": 2, "num_workers": 0, "cache_rate": 0.0, "progress_bar": False}
FRAMES = (
    5  # real Kvasir-SEG validation frames in the datastore: the flow labels the first 4, refused labels go to the 5th
)


def binary_png(mask_jpeg: Path, out: Path, foreground: int = 255, size: tuple[int, int] | None = None) -> Path:
    """A Kvasir-SEG JPEG mask thresholded at 128, saved as a PNG of 0 / ``foreground`` (optionally resized)."""
    mask = Image.open(mask_jpeg).convert("L")
    if size is not None:
        mask = mask.resize(size, Image.NEAREST)
    Image.fromarray(((np.asarray(mask) >= 128) * foreground).astype(np.uint8)).save(out)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
class TestMonaiLabel2D(unittest.TestCase):
    """One server for the class; the error cases change nothing, the ordered flow is one test."""

    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            if os.environ.get("MEDDISSEG_REQUIRE_MONAILABEL", "0") == "1":
                raise AssertionError(f"MEDDISSEG_REQUIRE_MONAILABEL=1 but {reason}")
            raise unittest.SkipTest(reason)
        kvasir = shared_data_path("Kvasir-SEG")
        cls.tmp = Path(tempfile.mkdtemp())
        cls.ids = (kvasir / "val.txt").read_text().split()[:FRAMES]
        cls.images = {i: kvasir / "images" / f"{i}.jpg" for i in cls.ids}
        cls.masks = {i: kvasir / "masks" / f"{i}.jpg" for i in cls.ids}
        studies = cls.tmp / "studies"
        for i in cls.ids:
            add_study(studies, i, cls.images[i])
        corrupt = cls.tmp / "corrupt.jpg"  # a real JPEG cut to its first 2000 bytes
        corrupt.write_bytes(cls.images[cls.ids[0]].read_bytes()[:2000])
        add_study(studies, "corrupt", corrupt)

        app = copy_app(cls.tmp / "apps")
        cls.bundle = install_bundle(app, BUNDLE_ROOT, MODEL)
        configure_bundle(cls.bundle, CPU_SETTINGS)
        cls.weights = initial_weights(cls.bundle)
        cls.server = MonaiLabelServer(app, studies, models=MODEL)
        try:
            cls.server.start()
        except BaseException:
            shutil.rmtree(cls.tmp, True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, True)

    # -- helpers -----------------------------------------------------------------------------------------------------
    def infer_mask(self, image_id: str) -> np.ndarray:
        r = self.server.infer(MODEL, image_id)
        self.assertEqual(r.headers.get("content-type"), "image/png", r.headers)
        mask = Image.open(io.BytesIO(r.body))
        self.assertEqual(mask.format, "PNG")
        self.assertEqual(mask.mode, "L")  # 8-bit grayscale: uint8, as the bundle's own inference writes it
        self.assertEqual(mask.size, Image.open(self.images[image_id]).size)  # the frame's own size
        array = np.asarray(mask)
        self.assertEqual(array.dtype, np.uint8)
        self.assertTrue(set(np.unique(array).tolist()) <= {0, 255}, np.unique(array))
        return array

    def assert_refused(self, status: int, words: list[str], method: str, path: str, **kwargs) -> None:
        with self.assertRaises(MonaiLabelError) as caught:
            self.server.request(method, path, **kwargs)
        error = caught.exception
        self.assertEqual(error.status, status, error.body)
        detail = json.loads(error.body)["detail"]
        for word in words:
            self.assertIn(word, detail)
        self.assertIn(MODEL, self.server.info()["models"])  # the server is still up and answers

    # -- bad input: a 4xx with a message, nothing changes -------------------------------------------------------------
    @parameterized.expand(
        [
            ("unknown_model", 404, ["no inference model 'no_such_model'", MODEL], "/infer/no_such_model", {"image": 0}),
            (
                "unknown_image",
                404,
                ["'no_such_image' is not in the datastore"],
                f"/infer/{MODEL}",
                {"image": "no_such_image"},
            ),
            ("image_is_a_folder", 404, ["'.' is not in the datastore"], f"/infer/{MODEL}", {"image": "."}),
            ("no_image", 422, ["no input"], f"/infer/{MODEL}", {}),
            ("corrupt_image", 422, ["corrupt.jpg", "cannot be read"], f"/infer/{MODEL}", {"image": "corrupt"}),
            ("params_not_json", 422, ["params is not valid JSON"], f"/infer/{MODEL}", {"image": 0}, "{device: cpu"),
            ("params_not_object", 422, ["params must be a JSON object"], f"/infer/{MODEL}", {"image": 0}, "[1, 2]"),
        ]
    )
    def test_infer_refuses(self, _, status, words, path, query, params="{}"):
        query = {k: (self.ids[v] if isinstance(v, int) else v) for k, v in query.items()}
        self.assert_refused(status, words, "POST", path, params={"output": "image", **query}, form={"params": params})

    @parameterized.expand(
        [
            ("zero_one_values", 422, ["values 1 are outside", "0: background, 255: foreground"], "zero_one"),
            ("jpeg_mask", 422, ["outside the label map", "saved as PNG"], "jpeg"),
            ("wrong_size", 422, ["spatial size", "differs from its image"], "small"),
            ("rgb", 422, ["3 channels"], "rgb"),
            ("not_an_image", 422, ["cannot be read"], "garbage"),
            ("unknown_image", 404, ["'no_such_image' is not in the datastore"], "good"),
        ]
    )
    def test_save_label_refuses(self, _, status, words, kind):
        target = self.ids[4]  # never labelled by the flow
        image_id = "no_such_image" if kind == "good" else target
        mask = self.masks[target]
        size = Image.open(self.images[target]).size
        label = self.tmp / f"label_{kind}.png"
        if kind in ("good", "zero_one"):
            binary_png(mask, label, foreground=255 if kind == "good" else 1)
        elif kind == "jpeg":
            label = self.tmp / "label_jpeg.jpg"
            Image.open(mask).convert("L").save(label)  # the dataset's mask as a grayscale JPEG: noise around 0 / 255
        elif kind == "small":
            binary_png(mask, label, size=(size[0] // 2, size[1] // 2))
        elif kind == "rgb":
            Image.open(mask).convert("RGB").point(lambda v: 255 if v >= 128 else 0).save(label)
        else:
            label.write_bytes(b"not a PNG at all")
        with self.assertRaises(MonaiLabelError) as caught:
            self.server.save_label(image_id, label)
        self.assertEqual(caught.exception.status, status, caught.exception.body)
        for word in words:
            self.assertIn(word, json.loads(caught.exception.body)["detail"])
        self.assertEqual(list((self.server.studies_dir / "labels" / "final").glob(f"{target}.*")), [])  # nothing saved
        self.assertIn(MODEL, self.server.info()["models"])  # the server is still up and answers

    @parameterized.expand(
        [
            ("unknown_model", 404, ["no training model 'no_such_model'"], "no_such_model", {"max_epochs": 1}),
            ("zero_epochs", 422, ["max_epochs must be a whole number"], MODEL, {"max_epochs": 0}),
            ("bad_val_split", 422, ["val_split must be in [0, 1)"], MODEL, {"max_epochs": 1, "val_split": 2}),
        ]
    )
    def test_train_refuses(self, _, status, words, model, body):
        before = self.weights.stat().st_mtime_ns
        self.assert_refused(status, words, "POST", f"/train/{model}", params={"run_sync": "True"}, json_body=body)
        self.assertEqual(self.weights.stat().st_mtime_ns, before)

    # -- the flow: info, infer, label, train, infer with the new weights ---------------------------------------------
    def test_info_infer_label_train_infer(self):
        info = self.server.info()
        model = info["models"][MODEL]
        self.assertEqual(model["labels"], {"foreground": 255})  # the value of the foreground in the returned mask
        self.assertEqual(model["dimension"], 2)
        self.assertIn(MODEL, info["trainers"])
        self.assertEqual(info["labels"], ["foreground"])

        first = self.infer_mask(self.ids[0])
        before = self.server.infer(MODEL, self.ids[0], output="json")
        self.assertEqual(before["label_names"], {"foreground": 255})
        self.assertAlmostEqual(before["model_mtime"], self.weights.stat().st_mtime, places=3)

        # three requests at once: all answered, each with the mask of a request made alone
        with ThreadPoolExecutor(3) as pool:
            masks = list(pool.map(self.infer_mask, [self.ids[0], self.ids[1], self.ids[0]]))
        np.testing.assert_array_equal(masks[0], first)
        np.testing.assert_array_equal(masks[2], first)

        # /train needs labels: none yet, then one (the 2D bundle trains on pairs): 422 with the reason, nothing written
        digest = sha256(self.weights)
        for labelled, words in (
            (0, "no image in the datastore has a final label"),
            (1, "batch_size must be at least 2"),
        ):
            if labelled:
                saved = self.server.save_label(self.ids[0], binary_png(self.masks[self.ids[0]], self.tmp / "l0.png"))
                self.assertEqual(saved["label"], self.ids[0])
            with self.assertRaises(MonaiLabelError) as caught:
                self.server.train(MODEL, {"max_epochs": 1})
            self.assertEqual(caught.exception.status, 422, caught.exception.body)
            self.assertIn(words, caught.exception.body)
            self.assertEqual(sha256(self.weights), digest)

        # two labels, val_split 0.2: no validation image -> trains without validation, saves the final weights, says so
        self.server.save_label(self.ids[1], binary_png(self.masks[self.ids[1]], self.tmp / "l1.png"))
        stats = self.server.train(MODEL, {"max_epochs": 1}, timeout=1800)
        self.assertEqual((stats["train_images"], stats["validation_images"], stats["epochs"]), (2, 0, 1), stats)
        self.assertTrue(stats["validation"].startswith("none: val_split 0.2 of 2 labelled"), stats)
        self.assertNotEqual(sha256(self.weights), digest, self.server.log_tail())
        after = torch.load(self.weights, map_location="cpu")
        self.assertTrue(all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point()))

        # the next /infer reloads models/model.pt: new file time, a different foreground probability
        self.infer_mask(self.ids[0])
        result = self.server.infer(MODEL, self.ids[0], output="json")
        self.assertAlmostEqual(result["model_mtime"], self.weights.stat().st_mtime, places=3)
        self.assertGreater(result["model_mtime"], before["model_mtime"])
        self.assertNotAlmostEqual(
            result["foreground_probability_mean"], before["foreground_probability_mean"], places=6
        )
        self.assertEqual(self.server.info()["train_stats"][MODEL]["train_images"], 2)

        # four labels, val_split 0.5: two validation images (the validation loss has a Dispersive term: pairs) -> the
        # bundle's best-metric checkpoint
        for k in (2, 3):
            self.server.save_label(self.ids[k], binary_png(self.masks[self.ids[k]], self.tmp / f"l{k}.png"))
        digest = sha256(self.weights)
        stats = self.server.train(MODEL, {"max_epochs": 1, "val_split": 0.5}, timeout=1800)
        self.assertEqual((stats["train_images"], stats["validation_images"]), (2, 2), stats)
        self.assertNotEqual(sha256(self.weights), digest, self.server.log_tail())


if __name__ == "__main__":
    unittest.main()
