"""The MONAI Label test helpers themselves (no MONAI Label environment needed): datastore layout, loopback-only
binding, clear errors, HTTP helpers against a throwaway server on 127.0.0.1."""

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.monailabel_utils import (
    OFFLINE_CONF,
    MonaiLabelError,
    MonaiLabelServer,
    add_study,
    free_port,
    http_request,
    install_bundle,
    wait_for_install,
)


def test_add_study_layout(tmp_path):
    (tmp_path / "ct.nii.gz").write_bytes(b"image")
    (tmp_path / "seg.nii.gz").write_bytes(b"label")
    out = add_study(tmp_path / "studies", "case1", tmp_path / "ct.nii.gz", label=tmp_path / "seg.nii.gz")
    assert out["image"] == tmp_path / "studies" / "case1.nii.gz"
    assert out["label"] == tmp_path / "studies" / "labels" / "final" / "case1.nii.gz"
    assert out["label"].read_bytes() == b"label"
    only_image = add_study(tmp_path / "studies", "case2", tmp_path / "ct.nii.gz")
    assert set(only_image) == {"image"}


def test_install_bundle_copies_under_app_model(tmp_path):
    src = tmp_path / "my_bundle"
    (src / "configs").mkdir(parents=True)
    (src / "configs" / "metadata.json").write_text("{}")
    (src / "eval").mkdir()
    target = install_bundle(tmp_path / "app", src, "ct")
    assert target == tmp_path / "app" / "model" / "ct"
    assert (target / "configs" / "metadata.json").exists() and not (target / "eval").exists()


def test_server_is_loopback_only_and_offline_by_default(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        MonaiLabelServer(tmp_path, tmp_path, "m", host="0.0.0.0")
    server = MonaiLabelServer(tmp_path / "app", tmp_path / "studies", ["a", "b"], conf={"preload": "false"})
    cmd = server.command()
    assert cmd[1:4] == ["-m", "monailabel.main", "start_server"]
    pairs = {cmd[i + 1]: cmd[i + 2] for i, c in enumerate(cmd) if c == "--conf"}
    assert pairs == {**OFFLINE_CONF, "preload": "false", "models": "a,b"}
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and int(cmd[cmd.index("--port") + 1]) == server.port


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200 if self.path.startswith("/info/") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Disposition", 'attachment; filename="tmpx.nii.gz"')
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(
            json.dumps({"path": self.path, "type": self.headers["Content-Type"], "body": data.decode()}).encode()
        )

    def log_message(self, *args):
        pass


@pytest.fixture
def local_http():
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_helpers(local_http):
    r = http_request("GET", f"{local_http}/info/", timeout=10)
    assert r.json() == {"path": "/info/"} and r.filename == "tmpx.nii.gz"
    with pytest.raises(MonaiLabelError) as e:
        http_request("GET", f"{local_http}/nope", timeout=10)
    assert e.value.status == 404
    posted = http_request("POST", f"{local_http}/train/m?run_sync=True", json_body={"max_epochs": 1}, timeout=10).json()
    assert posted["type"] == "application/json" and json.loads(posted["body"]) == {"max_epochs": 1}
    form = http_request("POST", f"{local_http}/infer/m", form={"params": "{}"}, timeout=10).json()
    assert form["type"] == "application/x-www-form-urlencoded" and form["body"] == "params=%7B%7D"


def test_no_answer_is_an_error():
    with pytest.raises(MonaiLabelError) as e:
        http_request("GET", f"http://127.0.0.1:{free_port()}/info/", timeout=5)
    assert e.value.status is None


def _marker(tmp_path, content: str | None):
    venv = tmp_path / "venv-ml"
    if content is not None:
        Path(f"{venv}.installing").write_text(content)
    return venv


def test_wait_for_install_returns_at_once_without_a_live_install(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    for content in (None, str(finished.pid)):  # no marker; a marker naming a process that has ended
        start = time.monotonic()
        assert wait_for_install(_marker(tmp_path, content), timeout=5, poll=0.05) is None
        assert time.monotonic() - start < 1.0


def test_wait_for_install_waits_for_the_install_then_times_out(tmp_path):
    installer = subprocess.Popen(["sleep", "1"])
    venv = _marker(tmp_path, str(installer.pid))
    reaper = threading.Thread(target=installer.wait)  # as bash reaps its background job
    reaper.start()
    start = time.monotonic()
    assert wait_for_install(venv, timeout=30, poll=0.05) is None
    assert time.monotonic() - start >= 0.8
    reaper.join()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        reason = wait_for_install(_marker(tmp_path, str(sleeper.pid)), timeout=0.3, poll=0.05)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert reason is not None and "still installing after 0 s" in reason
