"""``POST /infer/{model}``, answered with a message and off the event loop.

MONAI Label 0.8.5's own endpoint (``monailabel.endpoints.infer.api_run_inference``) is an ``async def`` that runs
the whole inference on the server's event loop, so every other request (even ``GET /info/``) waits until it is done,
and it parses the ``params`` form field with a bare ``json.loads``: a malformed field is HTTP 500
``Internal Server Error``. The route installed here, in front of it, takes the same arguments and calls the same
``run_inference``, but:

- answers HTTP 422 with the reason for a ``params`` field that is not a JSON object, and for a request with neither
  an image id, a file nor a session;
- is a plain ``def``, which FastAPI runs in its thread pool: the event loop stays free; requests to one model still
  run one at a time (``MedDisSegInferTask`` holds a lock), requests to different models in parallel;
- turns any other failure into HTTP 500 with its cause as the message (the traceback stays in the server log).

No ``from __future__ import annotations`` here: FastAPI reads the endpoint's parameter annotations at run time.
"""

import json
import logging
from typing import Optional

from fastapi import BackgroundTasks, Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.routing import APIRoute
from monailabel.config import settings
from monailabel.endpoints import infer as infer_endpoint
from monailabel.endpoints.infer import ResultType
from monailabel.endpoints.user.auth import RBAC, User
from monailabel.interfaces.exception import MONAILabelException

from lib.infer import root_cause

__all__ = ["parse_params", "install_infer_route"]

logger = logging.getLogger(__name__)


def parse_params(params: Optional[str]) -> dict:
    """The ``params`` form field as a dict; HTTP 422 saying why when it is not a JSON object."""
    if not params:
        return {}
    try:
        value = json.loads(params)
    except json.JSONDecodeError as e:
        raise HTTPException(status_code=422, detail=f"params is not valid JSON ({e}): {params[:200]!r}") from None
    if not isinstance(value, dict):
        raise HTTPException(
            status_code=422,
            detail=f"params must be a JSON object ({{...}}), got {type(value).__name__}: {params[:200]!r}",
        )
    return value


def checked_run_inference(
    background_tasks: BackgroundTasks,
    model: str,
    image: str = "",
    session_id: str = "",
    params: str = Form("{}"),
    file: UploadFile = File(None),
    label: UploadFile = File(None),
    output: Optional[ResultType] = None,
    user: User = Depends(RBAC(settings.MONAI_LABEL_AUTH_ROLE_USER)),
):
    parse_params(params)
    if not file and not image and not session_id:
        raise HTTPException(status_code=422, detail="no input: give an image id (?image=ID), a file or a session_id")
    try:
        return infer_endpoint.run_inference(background_tasks, model, image, session_id, params, file, label, output)
    except HTTPException:
        raise
    except MONAILabelException as e:
        logger.exception(f"Inference of {model} on {image!r} failed")
        raise HTTPException(status_code=400, detail=f"{e.error.value}: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - a message instead of a bare "Internal Server Error"
        logger.exception(f"Inference of {model} on {image!r} failed")
        cause = root_cause(e)
        raise HTTPException(status_code=500, detail=f"inference failed: {type(cause).__name__}: {cause}") from None


def install_infer_route(app: FastAPI) -> None:
    """Puts :func:`checked_run_inference` in front of MONAI Label's ``POST /infer/{model}`` (idempotent)."""
    path = f"{settings.MONAI_LABEL_API_STR}/infer/{{model}}"
    if any(getattr(r, "endpoint", None) is checked_run_inference for r in app.router.routes):
        return
    app.router.add_api_route(
        path,
        checked_run_inference,
        methods=["POST"],
        summary="Run Inference (meddisseg-monai: checked, off the event loop)",
    )
    route = app.router.routes.pop()
    assert isinstance(route, APIRoute) and route.endpoint is checked_run_inference
    app.router.routes.insert(0, route)  # routes are matched in order: this one answers before MONAI Label's
    logger.info(f"Installed the checked POST {path}")
