"""Make PyPI's (CUDA) torchvision importable against a CPU-only torch, with its compiled ops unavailable.

Run with the interpreter of the environment to patch (scripts/install_monailabel.sh does it):

    .venv-monailabel/bin/python scripts/torchvision_cpu_import_fix.py          # patch if needed, then check
    .venv-monailabel/bin/python scripts/torchvision_cpu_import_fix.py --check  # check only (exit 1 if broken)

Why: MONAI Label imports ``torchvision.utils`` (``make_grid``, ``save_image``) at module level, and PyPI has only
CUDA builds of torchvision. Their ``_C.so`` needs ``libtorch_cuda.so``/``libc10_cuda.so``, which a CPU torch does
not have, so loading it fails; torchvision catches that (``torchvision.extension._has_ops()`` is then False) and
is designed to work without its compiled ops -- every other registration is guarded by ``_has_ops()`` -- except two
unguarded ``@torch.library.register_fake("torchvision::nms"/"torchvision::qnms")`` in ``_meta_registrations.py``,
which raise ``RuntimeError: operator torchvision::nms does not exist`` and make ``import torchvision`` fail
(pytorch/vision#9085, #9337). This script applies the guard proposed upstream in pytorch/vision#9649: register the
two fake kernels only when the compiled ops are loaded. Nothing else changes: with a matching torch (ops loaded) the
behaviour is the original one; without, the pure-Python parts work and the compiled ops (nms, roi_align,
deform_conv2d, decode_jpeg, ...) raise torchvision's own "Couldn't load custom C++ ops" error when called.

The patch is idempotent, refuses to touch a file that does not look as expected, and is lost on a reinstall of
torchvision (install_monailabel.sh re-applies it).
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import subprocess
import sys

MARKER = "# meddisseg-monai: guard of pytorch/vision#9649"
HELPER = f"""

{MARKER}
def _register_fake_if_has_ops(qualname):
    def wrapper(fn):
        if torchvision.extension._has_ops():
            return torch.library.register_fake(qualname)(fn)
        return fn

    return wrapper
"""
OPS = ("nms", "qnms")
ANCHOR = "\n\n@register_meta("  # the helper goes right before the first meta registration

CHECK = r"""
import torch, torchvision, torchvision.extension
from torchvision.utils import make_grid, save_image  # what monailabel/transform/post.py imports
import io
grid = make_grid(torch.rand(4, 3, 8, 8), normalize=True)
assert tuple(grid.shape) == (3, 12, 42), grid.shape
buf = io.BytesIO()
save_image(grid, buf, format="png")
assert buf.getvalue()[:4] == b"\x89PNG"
if not torchvision.extension._has_ops():  # the compiled ops fail with torchvision's own clear error
    try:
        torchvision.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
        raise AssertionError("nms ran without compiled ops?")
    except RuntimeError as e:
        assert "Couldn't load custom C++ ops" in str(e), e
print(f"torchvision {torchvision.__version__} imports; compiled ops loaded: {torchvision.extension._has_ops()}")
"""


def meta_registrations_path() -> pathlib.Path:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("torchvision is not installed in this environment")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "_meta_registrations.py"


def patch(path: pathlib.Path) -> bool:
    """Returns True if the file was changed."""
    text = path.read_text()
    if MARKER in text:
        return False
    decorators = {op: f'@torch.library.register_fake("torchvision::{op}")\n' for op in OPS}
    missing = [d.strip() for d in decorators.values() if text.count(d) != 1]
    if missing or text.count(ANCHOR) < 1:
        sys.exit(f"{path} does not look as expected ({missing or 'no @register_meta'}); not patching it")
    for op, decorator in decorators.items():
        text = text.replace(decorator, f'@_register_fake_if_has_ops("torchvision::{op}")\n')
    text = text.replace(ANCHOR, HELPER + ANCHOR, 1)
    path.write_text(text)
    return True


def check(report_failure: bool = True) -> bool:
    """Imports torchvision in a fresh interpreter (a failed import leaves a half-registered library behind)."""
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    if result.returncode != 0 and report_failure:
        sys.stderr.write(result.stderr[-3000:])
    return result.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that torchvision imports and works")
    args = parser.parse_args()
    if args.check:
        sys.exit(0 if check() else 1)
    if check(report_failure=False):
        return
    path = meta_registrations_path()
    if patch(path):
        print(f"patched {path} (register_fake of torchvision::nms/qnms only when the compiled ops are loaded)")
    if not check():
        sys.exit("torchvision still does not import")


if __name__ == "__main__":
    main()
