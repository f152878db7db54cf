"""Test order for the two pytest-xdist workers of scripts/run_tests.sh (``--dist loadfile --no-loadscope-reorder``).

Files run in the order given here, then every other file in collection order:

1. ``SLOWEST_FIRST``: the slowest files (``--durations`` of a fresh-clone run on 2 AVX2 cores), longest first, so
   that no long file starts last and leaves one worker running alone at the end;
2. the files that need the MONAI Label environment (``MONAILABEL_FILES``): scripts/run_tests.sh installs it in the
   background while the tests run, and a test of these files waits for it (tests/monailabel_utils.py). Started right
   after the slowest files, they find it installed instead of holding a worker idle;
3. ``THEN_LONGER``: the next slowest, longest first;
4. the rest, short files that fill both workers to the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent

# seconds (setup + call + teardown, one worker) in a fresh-clone run of scripts/run_tests.sh on 2 AVX2 cores
SLOWEST_FIRST = (
    "bundle/test_fast_paths.py",  # 191 s
    "bundle/test_meddisseg_ct_segmentation.py",  # 150 s
    "bundle/test_distributed.py",  # 140 s
    "test_demo_main_job.py",  # 56 s
)
MONAILABEL_FILES = (
    "bundle/test_meddisseg_ct_monailabel.py",  # 103 s
    "bundle/test_meddisseg_2d_monailabel.py",  # 39 s
)
THEN_LONGER = (
    "bundle/test_bundle_workflows.py",  # 71 s
    "test_fault_suite.py",  # 43 s
    "bundle/test_onnx_export.py",  # 30 s
    "networks/nets/test_meddisseg.py",  # 26 s
    "bundle/test_tta.py",  # 22 s
    "cli/test_container.py",  # 18 s
)


def _scheduled_files() -> list[str]:
    files = [*SLOWEST_FIRST, *MONAILABEL_FILES, *THEN_LONGER]
    missing = [name for name in files if not (TESTS_DIR / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py schedules test files that do not exist: {missing}")
    return files


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(_scheduled_files())}
    unranked = len(rank)

    def file_rank(item: pytest.Item) -> int:
        try:
            relative = Path(str(item.path)).resolve().relative_to(TESTS_DIR).as_posix()
        except ValueError:  # collected from outside tests/
            return unranked
        return rank.get(relative, unranked)

    items.sort(key=file_rank)  # stable: the order within a file, and among the other files, stays
