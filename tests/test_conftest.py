"""The test order of tests/conftest.py, as pytest collects it."""

from __future__ import annotations

import subprocess
import sys
import unittest
from pathlib import Path

from tests.conftest import MONAILABEL_FILES, SLOWEST_FIRST, THEN_LONGER

TESTS_DIR = Path(__file__).resolve().parent


class TestCollectionOrder(unittest.TestCase):
    def test_files_start_in_the_scheduled_order(self):
        """Collected in any order, the scheduled files come first, in the table's order, then every other file."""
        other = ["test_packaging.py", "bundle/test_bundle_checks.py"]  # two unscheduled files, in collection order
        scheduled = [*SLOWEST_FIRST, *MONAILABEL_FILES, *THEN_LONGER]
        arguments = [str(TESTS_DIR / name) for name in reversed(scheduled + other)]  # the reverse of the schedule
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *arguments],
            capture_output=True,
            text=True,
            cwd=TESTS_DIR.parent,
            timeout=600,
        )
        self.assertEqual(result.returncode, 0, result.stdout[-2000:] + result.stderr[-2000:])
        files = []
        for line in result.stdout.splitlines():
            if "::" in line:
                name = Path(line.split("::")[0]).relative_to("tests").as_posix()
                if not files or files[-1] != name:
                    files.append(name)
        self.assertEqual(files, scheduled + list(reversed(other)))


if __name__ == "__main__":
    unittest.main()
