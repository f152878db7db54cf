"""Training of a meddisseg-monai bundle from MONAI Label: ``BundleTrainTask`` that never answers a silent no-op.

MONAI Label's ``BundleTrainTask`` (0.8.5) runs ``configs/train.json`` through ``monai.bundle.run`` with the datastore's
labelled images. What it does not do for these bundles, and this task adds:

- **Too few labels for a validation split.** ``val_split`` (default 0.2) of 1 or 2 labelled images is an empty
  validation list; ignite then skips the evaluator, the bundle's best-metric ``CheckpointSaver`` never fires, and
  MONAI Label answers HTTP 200 ``{}`` with ``models/model.pt`` unchanged. Here the run then trains without validation
  and saves the final weights to ``models/model.pt`` (a ``CheckpointSaver`` with ``save_final`` in the train
  handlers), and the answer says so (``"validation": "none: ..."``).
- **Starting weights.** With ``pretrained`` (the default) and a ``models/model.pt``, the whole network starts from it,
  so the 2D bundle's Stage I encoder file (``network_def#encoder_weights``) is not needed and not read.
- **A fresh run each time.** ``resume`` is off (a bundle's ``last.pt`` of a previous run would otherwise restore the
  trainer's epoch, and a run of ``max_epochs`` would then do nothing); ``epochs`` follows ``max_epochs``; the batch
  size is at most the number of training images (the 2D bundle drops incomplete batches).
- **Answers.** No labelled image, bad ``max_epochs`` / ``val_split``, or a datalist the bundle refuses (the 2D bundle
  needs two training images: the Dispersive Loss compares pairs) are HTTP 422 with the reason; a failing run is
  HTTP 500 with its cause (the traceback stays in the server log); a run that wrote no new ``models/model.pt`` is
  HTTP 500 too. A finished run answers its figures (also ``train_stats`` in ``GET /info/``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from fastapi import HTTPException
from monailabel.tasks.train.bundle import BundleTrainTask

from lib.infer import root_cause
from lib.labels import LabelSpec

__all__ = ["MedDisSegTrainTask"]

logger = logging.getLogger(__name__)

STATS_FILE = "monailabel_train_stats.json"  # under the bundle's models/ folder


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        s = os.stat(path)
    except FileNotFoundError:
        return None
    return s.st_mtime_ns, s.st_size


class MedDisSegTrainTask(BundleTrainTask):
    """``BundleTrainTask`` over a meddisseg-monai bundle (``configs/train.json``).

    Args:
        path: the bundle folder (``<app>/model/<name>``).
        conf: the server's ``--conf`` pairs.
        spec: the bundle's label map.
        kwargs: passed to ``BundleTrainTask``.
    """

    def __init__(self, path: str, conf: dict[str, str], spec: LabelSpec, **kwargs: Any):
        super().__init__(path, conf, **kwargs)
        self.spec = spec
        self._plan: dict[str, Any] = {}

    def stats(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.bundle_path, "models", STATS_FILE)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _options(request: dict[str, Any]) -> tuple[int, float]:
        max_epochs, val_split = request.get("max_epochs", 50), request.get("val_split", 0.2)
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise HTTPException(status_code=422, detail=f"max_epochs must be a whole number >= 1, got {max_epochs!r}")
        if (
            isinstance(val_split, bool)
            or not isinstance(val_split, (int, float))
            or not (val_split == -1 or 0 <= val_split < 1)
        ):
            raise HTTPException(
                status_code=422,
                detail=f"val_split must be in [0, 1) (or -1: the bundle's own validation list), got {val_split!r}",
            )
        return max_epochs, float(val_split)

    def __call__(self, request, datastore):
        model = request.get("model")
        max_epochs, val_split = self._options(request)
        request = {**request, "val_split": val_split}
        datalist = self._fetch_datalist(request, datastore)
        if not datalist:
            raise HTTPException(
                status_code=422,
                detail="no image in the datastore has a final label: save labels first (PUT /datastore/label, "
                "tag final) or put them in <studies>/labels/final/",
            )
        train, val = self._partition_datalist(datalist, request)
        if not train:
            raise HTTPException(
                status_code=422,
                detail=f"val_split {val_split} of {len(datalist)} labelled image(s) leaves none to train on",
            )
        if val is None:
            validation = "the bundle's own validation list (val_split -1)"
        elif val:
            validation = f"{len(val)} image(s), best-metric weights saved"
        else:
            validation = (
                f"none: val_split {val_split} of {len(datalist)} labelled image(s) gives no validation image; "
                f"trained without validation and saved the final weights (label more images, or raise val_split)"
            )
        model_filename = request.get("model_filename", "model.pt")
        model_filename = model_filename if isinstance(model_filename, str) else model_filename[0]
        model_file = os.path.join(self.bundle_path, "models", model_filename)
        pretrained = bool(request.get("pretrained", True)) and os.path.exists(model_file)
        self._plan = {
            "validate": val is None or bool(val),
            "train_images": len(train),
            "model_file": model_file,
            "pretrained": pretrained,
        }
        before, start = _stamp(model_file), time.time()
        try:
            super().__call__(request, datastore)
        except HTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - report the cause to the client, keep the traceback in the log
            logger.exception(f"Training {model} failed")
            cause = root_cause(e)
            context = f"{len(train)} training / {len(val or [])} validation image(s)"
            if type(cause).__name__ == "DatalistError":  # meddisseg_monai.data: the bundle refused the datalist
                raise HTTPException(status_code=422, detail=f"cannot train {model} on {context}: {cause}") from None
            raise HTTPException(
                status_code=500, detail=f"training {model} failed ({context}): {type(cause).__name__}: {cause}"
            ) from None
        after = _stamp(model_file)
        if after is None or after == before:
            raise HTTPException(
                status_code=500,
                detail=f"training {model} ran but wrote no new {model_file} (see the server log)",
            )
        stats = {
            "model": model,
            "epochs": max_epochs,
            "train_images": len(train),
            "validation_images": len(val) if val is not None else None,
            "validation": validation,
            "batch_size": self._plan.get("batch_size"),
            "model_file": model_file,
            "model_mtime": os.stat(model_file).st_mtime,
            "total_time": round(time.time() - start, 2),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        with open(os.path.join(self.bundle_path, "models", STATS_FILE), "w") as f:
            json.dump(stats, f, indent=2)
        logger.info(f"Training {model} finished: {stats}")
        return stats

    def _update_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        config = self.bundle_config.config
        if "resume" in config:
            overrides["resume"] = False
        if "epochs" in config:
            overrides["epochs"] = overrides[self.const.key_train_trainer_max_epochs()]
        if isinstance(config.get("batch_size"), int):
            overrides["batch_size"] = min(config["batch_size"], self._plan.get("train_images", config["batch_size"]))
            self._plan["batch_size"] = overrides["batch_size"]
        network_def = config.get(self.const.key_network_def())
        if self._plan.get("pretrained") and isinstance(network_def, dict) and "encoder_weights" in network_def:
            # the whole network starts from models/model.pt (MONAI Label's CheckpointLoader): no encoder file needed
            overrides[f"{self.const.key_network_def()}#encoder_weights"] = "$None"  # (a plain None is dropped)
        if not self._plan.get("validate", True):
            model_file = self._plan["model_file"]
            final_saver = {
                "_target_": "CheckpointSaver",
                "save_dir": os.path.dirname(model_file),
                "save_dict": {self.model_dict_key: f"@{self.const.key_network()}"},
                "save_final": True,
                "final_filename": os.path.basename(model_file),
            }
            handlers = overrides[self.const.key_train_handlers()]
            overrides[self.const.key_train_handlers()] = [*handlers, final_saver]
        return overrides
