"""The package installs from a wheel (``pip wheel .``), as a bundle copied out of the repository needs it: every
module and the bundle metadata schema are in it, and nothing else (no tests, bundles or data)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

from tests.utils import REPO_ROOT


class TestWheel(unittest.TestCase):
    def test_wheel_holds_the_package_and_its_schema(self):
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp, "."]
            result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
            self.assertEqual(result.returncode, 0, result.stderr[-2000:])
            (wheel,) = Path(tmp).glob("meddisseg_monai-*.whl")
            names = set(zipfile.ZipFile(wheel).namelist())
        modules = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "meddisseg_monai").rglob("*.py")}
        self.assertEqual(modules - names, set(), "modules missing from the wheel")
        self.assertIn("meddisseg_monai/schemas/bundle_metadata.json", names)
        outside = {n for n in names if not n.startswith(("meddisseg_monai/", "meddisseg_monai-"))}
        self.assertEqual(outside, set(), "the wheel holds only the package")


if __name__ == "__main__":
    unittest.main()
