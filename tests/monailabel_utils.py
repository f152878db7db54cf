"""Helpers to run a real MONAI Label 0.8.5 server (``monaibundle`` sample app) from tests and drive it over HTTP.

The server runs from the separate environment made by ``scripts/install_monailabel.sh`` (default
``<repo>/.venv-monailabel``; ``MEDDISSEG_MONAILABEL_VENV`` overrides it); the test itself may run in any interpreter:
this module uses the standard library only. The server is bound to a loopback address, every wait is bounded, and
``MonaiLabelServer`` stops the whole process group it started (the server and the training it may run).

Typical use in a test under tests/ (see docs/monailabel.md for the traps these helpers avoid)::

    from monailabel_utils import MonaiLabelServer, add_study, download_app, install_bundle, skip_reason

    if skip_reason():
        pytest.skip(skip_reason())

    app = download_app(tmp / "apps")                       # copies the installed monaibundle app, offline
    install_bundle(app, "bundle/my_ct_bundle", "my_ct")      # -> <app>/model/my_ct/
    for case in ("ct1", "ct2"):  # >= 2 labelled images: see "training saves nothing" in docs/monailabel.md
        add_study(tmp / "studies", case, "ct.nii.gz", label="seg_in_bundle_ids.nii.gz")  # labels/final/<case>.nii.gz
    with MonaiLabelServer(app, tmp / "studies", models="my_ct") as server:
        info = server.info()                                 # GET /info/
        seg = server.infer("my_ct", "ct1", out_path=tmp / "ct1_seg.nii.gz")   # POST /infer/my_ct?image=ct1&output=image
        server.train("my_ct", {"max_epochs": 1, "val_split": 0.5})            # POST /train/my_ct?run_sync=True
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# --conf values that keep the monaibundle app offline: the default zoo source ("monaihosting") looks every bundle up
# online, even a local one; the SAM2 models (on by default) download weights at start.
OFFLINE_CONF = {"zoo_source": "github", "sam2": "false"}


class MonaiLabelError(RuntimeError):
    """An HTTP call to the server failed; ``status`` is the HTTP status (None: no answer), ``body`` its text."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


# --------------------------------------------------------------------------------------------------------------------
# The environment
# --------------------------------------------------------------------------------------------------------------------
def monailabel_venv(venv: str | os.PathLike | None = None) -> Path:
    """The MONAI Label virtual environment: ``venv``, else $MEDDISSEG_MONAILABEL_VENV, else <repo>/.venv-monailabel."""
    if venv is None:
        venv = os.environ.get("MEDDISSEG_MONAILABEL_VENV") or REPO_ROOT / ".venv-monailabel"
    return Path(venv)


def monailabel_python(venv: str | os.PathLike | None = None) -> Path:
    """The interpreter of that environment. The server is started as ``python -m monailabel.main``, not through
    ``<venv>/bin/monailabel``: that wrapper is a bash script running whatever ``python`` comes first on PATH."""
    return monailabel_venv(venv) / "bin" / "python"


# scripts/run_tests.sh installs the environment in the background and names the install in ``<venv>.installing``
INSTALL_WAIT_SECONDS = 1800.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, but alive
    return True


def wait_for_install(venv: str | os.PathLike, timeout: float = INSTALL_WAIT_SECONDS, poll: float = 2.0) -> str | None:
    """Waits while ``<venv>.installing`` names a live install (scripts/run_tests.sh writes it); None once there is
    none, else why the wait ended (still installing after ``timeout`` seconds)."""
    marker = Path(f"{venv}.installing")
    deadline = time.monotonic() + timeout
    while marker.exists():
        try:
            pid = int(marker.read_text().strip())
        except (OSError, ValueError):
            pid = None  # being written, or already removed
        if pid is not None and not _alive(pid):
            return None
        if time.monotonic() > deadline:
            return f"the MONAI Label environment {venv} was still installing after {timeout:.0f} s ({marker})"
        time.sleep(poll)
    return None


@functools.lru_cache(maxsize=None)
def _probe(python: str) -> str | None:
    venv = Path(python).parent.parent
    waited = wait_for_install(venv)
    if waited:
        return waited
    log = Path(f"{venv}.install.log")
    seen = f" (install log: {log})" if log.exists() else ""
    if not Path(python).exists():
        return f"no MONAI Label environment at {venv} (run scripts/install_monailabel.sh){seen}"
    code = "import monailabel, monai, torchvision, meddisseg_monai; print(monailabel.__version__, monai.__version__)"
    try:
        result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return f"{python} did not import monailabel within 300 s"
    if result.returncode != 0:
        return f"{python} cannot import monailabel: {result.stderr.strip().splitlines()[-1:]}{seen}"
    return None


def skip_reason(venv: str | os.PathLike | None = None) -> str | None:
    """None when the environment can run a server, else why not (for ``pytest.skip``)."""
    return _probe(str(monailabel_python(venv)))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------------------------------
# The app folder and the datastore
# --------------------------------------------------------------------------------------------------------------------
def download_app(
    output_dir: str | os.PathLike,
    name: str = "monaibundle",
    venv: str | os.PathLike | None = None,
    timeout: float = 300.0,
) -> Path:
    """Copies the sample app ``name`` shipped inside the installed monailabel package to ``output_dir/name`` (no
    network: ``monailabel apps --download`` only copies files). Returns the app folder; an existing one is reused."""
    app = Path(output_dir) / name
    if (app / "main.py").exists():
        return app
    cmd = [str(monailabel_python(venv)), "-m", "monailabel.main", "apps", "--download", "--name", name]
    cmd += ["--output", str(output_dir)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not (app / "main.py").exists():
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return app


def copy_app(output_dir: str | os.PathLike, source: str | os.PathLike = REPO_ROOT / "monailabel_app") -> Path:
    """Copies this project's MONAI Label app (``monailabel_app/``) to ``output_dir/monailabel_app`` (the server writes
    ``logs/`` and ``model/`` into its app folder: use a throwaway copy). Returns the copy; an existing one is reused."""
    app = Path(output_dir) / Path(source).name
    if not (app / "main.py").exists():
        shutil.copytree(source, app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "model", "logs"))
    return app


def install_bundle(app_dir: str | os.PathLike, bundle_dir: str | os.PathLike, name: str | None = None) -> Path:
    """Copies a bundle folder to ``<app>/model/<name>/``, where the monaibundle app finds a local bundle selected with
    ``--conf models <name>``. Training writes ``models/model.pt`` of the copy, never of the source."""
    bundle_dir = Path(bundle_dir)
    target = Path(app_dir) / "model" / (name or bundle_dir.name)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(bundle_dir, target, ignore=shutil.ignore_patterns("__pycache__", "eval", "*.pyc"))
    return target


def configure_bundle(bundle_copy: Path, settings: dict) -> None:
    """Set top-level values in the copy's train and inference configs (what a MONAI Label user edits)."""
    for name in ("train.json", "inference.json"):
        path = bundle_copy / "configs" / name
        config = json.loads(path.read_text())
        config.update({k: v for k, v in settings.items() if k in config})
        path.write_text(json.dumps(config, indent=4))


def initial_weights(bundle_copy: Path) -> Path:
    """An untrained network of the copy's inference config (seed 0), saved as its ``models/model.pt``."""
    import torch  # only here: the rest of this module needs neither torch nor MONAI
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle_copy / "configs" / "inference.json"))
    torch.manual_seed(0)
    path = bundle_copy / "models" / "model.pt"
    path.parent.mkdir(exist_ok=True)
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)
    return path


def _image_suffix(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.endswith(suffix):
            return suffix
    return "".join(path.suffixes)


def add_study(
    studies_dir: str | os.PathLike,
    image_id: str,
    image: str | os.PathLike,
    label: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Puts an image (and its final label) into a MONAI Label local datastore folder.

    Layout: ``<studies>/<id>.nii.gz`` and ``<studies>/labels/final/<id>.nii.gz`` -- the label must have the image's
    file name under ``labels/final`` and hold the *bundle's* label ids (``channel_def``), not the source dataset's.
    Only images with a final label are used by training. Add studies before starting the server (it indexes the
    folder at start and writes ``<studies>/.datastore.json``).
    """
    studies = Path(studies_dir)
    studies.mkdir(parents=True, exist_ok=True)
    image = Path(image)
    out = {"image": studies / f"{image_id}{_image_suffix(image)}"}
    shutil.copyfile(image, out["image"])
    if label is not None:
        label = Path(label)
        final = studies / "labels" / "final"
        final.mkdir(parents=True, exist_ok=True)
        out["label"] = final / f"{image_id}{_image_suffix(label)}"
        shutil.copyfile(label, out["label"])
    return out


# --------------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------------
class Response:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes):
        self.status = status
        self.headers = dict(headers)
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def filename(self) -> str | None:
        """The file name of a file response (``Content-Disposition: attachment; filename="..."``)."""
        m = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', self.headers.get("content-disposition", ""))
        return urllib.parse.unquote(m.group(1)) if m else None


def multipart_body(form: Mapping[str, str], files: Mapping[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """``multipart/form-data`` of text fields and files (field -> (file name, bytes)); returns (body, content type)."""
    boundary = f"----meddisseg{os.urandom(12).hex()}"
    parts = []
    for name, value in form.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def http_request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    files: Mapping[str, tuple[str, bytes]] | None = None,
    timeout: float = 60.0,
) -> Response:
    """One HTTP request with a bounded timeout; raises MonaiLabelError on an HTTP error or no answer.

    ``files`` (field -> (file name, bytes)) sends ``form`` and the files as ``multipart/form-data``."""
    data, headers = None, {"Accept": "*/*"}
    if json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    elif files is not None:
        data, headers["Content-Type"] = multipart_body(form or {}, files)
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")
        raise MonaiLabelError(f"{method} {url} -> HTTP {e.code}: {body[:2000]}", e.code, body) from None
    except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
        raise MonaiLabelError(f"{method} {url} -> no answer: {e}") from None


# --------------------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------------------
class MonaiLabelServer:
    """``monailabel start_server`` for one app and studies folder, on a loopback port, as a context manager.

    ``models``: bundle names (folders under ``<app>/model/``), passed as ``--conf models a,b``.
    ``conf``: more ``--conf`` pairs, on top of OFFLINE_CONF (zoo_source github, sam2 false).
    ``args``: more ``start_server`` arguments (e.g. ``["--workers", "2"]``).
    The server's output goes to ``log_file`` (default ``<app>/logs/server-<port>.log``); ``log_tail()`` reads it.
    """

    def __init__(
        self,
        app_dir: str | os.PathLike,
        studies_dir: str | os.PathLike,
        models: str | Sequence[str],
        *,
        conf: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        venv: str | os.PathLike | None = None,
        log_file: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 600.0,
        args: Sequence[str] = (),
    ):
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the test server binds to a loopback address only, not {host!r}")
        self.app_dir = Path(app_dir).resolve()
        self.studies_dir = Path(studies_dir).resolve()
        self.models = models if isinstance(models, str) else ",".join(models)
        self.conf = {**OFFLINE_CONF, **(conf or {}), "models": self.models}
        self.host = host
        self.port = port or free_port(host)
        self.python = monailabel_python(venv)
        self.log_file = Path(log_file) if log_file else self.app_dir / "logs" / f"server-{self.port}.log"
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.args = list(args)  # more start_server arguments, e.g. ["--workers", "2"]
        self.process: subprocess.Popen | None = None
        self.start_seconds: float | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(self.python), "-m", "monailabel.main", "start_server", "--app", str(self.app_dir)]
        cmd += ["--studies", str(self.studies_dir)]
        for k, v in self.conf.items():
            cmd += ["--conf", k, str(v)]
        return cmd + ["--host", self.host, "--port", str(self.port), *self.args]

    # -- life cycle --------------------------------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> "MonaiLabelServer":
        """Starts the server and waits until ``GET /info/`` answers (raises with the log's tail if it does not)."""
        if self.process is not None:
            raise RuntimeError("already started")
        skip = skip_reason(self.python.parent.parent)
        if skip:
            raise RuntimeError(skip)
        # A name that is not a folder under <app>/model/ makes the app download it from the zoo (any zoo_source) and
        # fail offline; say so at once instead.
        missing = [m for m in self.models.split(",") if not (self.app_dir / "model" / m.strip() / "configs").is_dir()]
        if missing:
            raise FileNotFoundError(f"no local bundle {missing} under {self.app_dir / 'model'} (see install_bundle)")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update({"PYTHONUNBUFFERED": "1", "VIRTUAL_ENV": str(self.python.parent.parent)})
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(self.env)
        t0 = time.monotonic()
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.app_dir),
                env=env,
                start_new_session=True,  # its own process group: stop() ends the server and its children together
            )
        try:
            self.wait_until_ready(self.startup_timeout if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def wait_until_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"MONAI Label server exited ({code}) before it was ready:\n{self.log_tail()}")
            try:
                return self.info(timeout=5)
            except MonaiLabelError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"MONAI Label server not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ends the server's process group: SIGINT (uvicorn's clean shutdown), then SIGTERM, then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return None
        for sig, wait in ((signal.SIGINT, timeout * 0.6), (signal.SIGTERM, timeout * 0.3), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)  # the group made by start_new_session=True: its id is the server's pid
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                # children (e.g. a background training) may outlive the server: end the rest of the group too
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> "MonaiLabelServer":
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- REST API ----------------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs) -> Response:
        """One request to the server (``kwargs``: those of :func:`http_request`)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return http_request(method, f"{self.url}{path}{query}", **kwargs)

    def info(self, timeout: float = 60.0) -> dict:
        """``GET /info/``: ``models`` (name -> type, labels {name: id}, dimension, ...), ``trainers``, ``labels``."""
        return self.request("GET", "/info/", timeout=timeout).json()

    def datastore(self, timeout: float = 60.0) -> dict:
        """``GET /datastore/?output=all``: the indexed images and their labels."""
        return self.request("GET", "/datastore/", params={"output": "all"}, timeout=timeout).json()

    def infer(
        self,
        model: str,
        image_id: str,
        *,
        output: str = "image",
        params: Mapping[str, Any] | None = None,
        out_path: str | os.PathLike | None = None,
        timeout: float = 900.0,
    ) -> Any:
        """``POST /infer/<model>?image=<id>&output=<output>``; ``params`` go as the form field ``params`` (JSON).

        output="image": the label volume comes back as the body (a NIfTI file, ``.nii.gz`` for a NIfTI input, on the
        input image's grid); written to ``out_path`` when given (returns the path), else returns the Response.
        output="json": returns the result's parameters (dict).
        """
        form = {"params": json.dumps(dict(params or {}))}
        r = self.request(
            "POST", f"/infer/{model}", params={"image": image_id, "output": output}, form=form, timeout=timeout
        )
        if output == "json":
            return r.json()
        if out_path is not None:
            Path(out_path).write_bytes(r.body)
            return Path(out_path)
        return r

    def save_label(
        self,
        image_id: str,
        label: str | os.PathLike,
        *,
        tag: str = "final",
        params: Mapping[str, Any] | None = None,
        timeout: float = 120.0,
    ) -> dict:
        """``PUT /datastore/label?image=<id>&tag=<tag>`` with the label file (multipart field ``label``)."""
        label = Path(label)
        r = self.request(
            "PUT",
            "/datastore/label",
            params={"image": image_id, "tag": tag},
            form={"params": json.dumps(dict(params or {}))},
            files={"label": (label.name, label.read_bytes())},
            timeout=timeout,
        )
        return r.json()

    def train(
        self,
        model: str,
        params: Mapping[str, Any] | None = None,
        *,
        run_sync: bool = True,
        timeout: float = 3600.0,
    ) -> Any:
        """``POST /train/<model>?run_sync=True`` with ``params`` as the JSON body (``max_epochs``, ``val_split``,
        ``pretrained``, ``device``, ...). With run_sync the call returns when training has finished (the server runs
        it in its own process and answers nothing else meanwhile); without, it starts a background task (poll
        ``train_status``)."""
        r = self.request(
            "POST", f"/train/{model}", params={"run_sync": str(run_sync)}, json_body=dict(params or {}), timeout=timeout
        )
        return r.json()

    def train_status(self, all: bool = False, timeout: float = 60.0) -> Any:
        """``GET /train/``: the last (or all) training tasks; HTTP 404 (MonaiLabelError) when there was none."""
        return self.request("GET", "/train/", params={"all": str(all)}, timeout=timeout).json()
