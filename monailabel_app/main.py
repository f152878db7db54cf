"""meddisseg-monai's MONAI Label app: the project's bundles (2D frames and CT volumes), with answers that say no.

Run (see docs/monailabel.md)::

    cp -r bundle/meddisseg_2d_segmentation APP/model/meddisseg_2d      # APP: a copy of this folder
    .venv-monailabel/bin/python -m monailabel.main start_server --app APP --studies FRAMES \
        --conf models meddisseg_2d --host 127.0.0.1 --port 8000

The same structure as MONAI Label's ``monaibundle`` sample app (one infer and one train task per bundle under
``<app>/model/``), with the tasks of ``lib/`` instead of MONAI Label's bundle tasks, and:

- only local bundles (no model-zoo look-up, no SAM2 download): offline with no extra ``--conf``; a ``models`` name
  that is not a folder under ``<app>/model/`` stops the start with the folder named;
- unknown model (404), unknown image (404; MONAI Label would hand ITK an empty path, which scans the working
  directory), malformed ``params`` (422), unreadable image (422): an HTTP 4xx with a message;
- labels checked against the bundle's label map when saved (``lib/datastore.py``);
- ``/infer`` off the event loop (``lib/routes.py``), one request per model at a time.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import monailabel
from fastapi import HTTPException
from lib.datastore import CheckedLocalDatastore
from lib.infer import MedDisSegInferTask
from lib.labels import LabelSpec
from lib.routes import install_infer_route
from lib.train import MedDisSegTrainTask
from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

logger = logging.getLogger(__name__)


def local_bundles(model_dir: str, models: str) -> dict[str, str]:
    """``--conf models a,b`` -> {name: <model_dir>/<name>}; each must be a bundle folder (``configs/metadata.json``)."""
    names = [m.strip() for m in (models or "").split(",") if m.strip()]
    if not names:
        raise ValueError(f"no bundle selected: pass --conf models NAME[,NAME] (folders under {model_dir})")
    bundles = {}
    for name in names:
        path = os.path.join(model_dir, name)
        if not os.path.isfile(os.path.join(path, "configs", "metadata.json")):
            raise FileNotFoundError(
                f"--conf models {name}: {path} is not a bundle folder (no configs/metadata.json); copy the bundle there"
            )
        bundles[name] = path
    return bundles


class MedDisSegApp(MONAILabelApp):
    """The app: one :class:`MedDisSegInferTask` and one :class:`MedDisSegTrainTask` per bundle of ``--conf models``."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]):
        self.model_dir = os.path.join(app_dir, "model")
        self.bundles = local_bundles(self.model_dir, conf.get("models", ""))
        self.label_specs = {name: LabelSpec.from_bundle(path) for name, path in self.bundles.items()}
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name=f"meddisseg-monai bundles (MONAI Label {monailabel.__version__})",
            description="Med-DisSeg bundles: 2D frames (polyps, glands, skin lesions) and CT organs",
            version=monailabel.__version__,
        )

    # -- tasks -------------------------------------------------------------------------------------------------------
    def init_datastore(self):
        if self.studies.startswith(("http://", "https://")):
            return super().init_datastore()  # a remote datastore: MONAI Label's, labels unchecked
        return CheckedLocalDatastore(
            self.studies,
            extensions=settings.MONAI_LABEL_DATASTORE_FILE_EXT,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
            label_specs=lambda: self.label_specs,
        )

    def _bundle_tasks(self, task_class, kind: str) -> dict:
        """One ``task_class`` per bundle, for the bundles it is valid for (logged either way)."""
        tasks = {}
        for name, path in self.bundles.items():
            task = task_class(path, self.conf, spec=self.label_specs[name])
            if task.is_valid():
                logger.info(f"+++ Adding {kind}:: {name} => {task}")
                tasks[name] = task
            else:
                logger.warning(f"+++ No {kind} for {name}: {task_class.__name__} is not valid for {path}")
        return tasks

    def init_infers(self):
        return self._bundle_tasks(MedDisSegInferTask, "Inferer")  # invalid: <bundle>/models has no model.pt / .ts

    def init_trainers(self):
        if str(self.conf.get("skip_trainers", "false")).lower() in ("true", "1", "yes"):
            return {}
        return self._bundle_tasks(MedDisSegTrainTask, "Trainer")

    def init_strategies(self):
        return {"random": Random(), "first": First()}

    # -- requests ----------------------------------------------------------------------------------------------------
    def _require_model(self, model: Any, tasks: dict, what: str) -> None:
        if model not in tasks:
            raise HTTPException(
                status_code=404,
                detail=f"no {what} model {model!r} on this server; it serves: {sorted(tasks) or 'none'}",
            )

    def infer(self, request, datastore=None):
        self._require_model(request.get("model"), self._infers, "inference")
        image = request.get("image")
        if isinstance(image, str) and not os.path.isfile(image):  # an id, not an uploaded file
            # (MONAI Label reads an existing path as it is, and a folder as a DICOM series: ITK then scans it)
            store = datastore or self.datastore()
            if isinstance(store, CheckedLocalDatastore):
                store.require_image(image)
        return super().infer(request, datastore)

    def train(self, request):
        self._require_model(request.get("model"), self._trainers, "training")
        return super().train(request)

    def bundle_path(self, model):
        # called by MONAI Label's /train (and batch / scoring) before any work: an unknown model is a 404 there too
        if model and model not in self._trainers and model not in self._infers:
            self._require_model(model, self._trainers, "training")
        return super().bundle_path(model)

    def server_mode(self, mode: bool):
        super().server_mode(mode)
        if mode:  # in the server (not in a background training process): the checked /infer route
            from monailabel.app import app as fastapi_app  # the server's FastAPI app (imported by the server already)

            install_infer_route(fastapi_app)
