"""Data of the README's main-job demo: a few real Kvasir-SEG images when ``../shared/data`` is there, else synthetic
images made with MONAI's ``create_test_image_2d`` (non-square, RGB JPEG images with PNG masks).

    python -m meddisseg_monai.data.demo --output_dir demo_output
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from monai.data.synthetic import create_test_image_2d
from PIL import Image

from .datalist import write_datalist
from .locations import default_dataset_dir
from .registry import get_dataset

__all__ = ["prepare_demo_data", "synthetic_dataset", "kvasir_subset"]


def kvasir_subset(
    kvasir_dir: str | os.PathLike, output: str | os.PathLike, train: int, validation: int, test: int | None = None
) -> str:
    """A datalist of Kvasir-SEG's official split: the first ``train`` images of ``train.txt`` for training, its last
    ``validation`` images (never trained on) for validation, and the first ``test`` (default: all 120) official test
    images of ``val.txt`` as the test split."""
    kvasir_dir = Path(kvasir_dir)
    train_ids = (kvasir_dir / "train.txt").read_text().split()
    if train + validation > len(train_ids):
        raise ValueError(
            f"{train} training + {validation} validation images: {kvasir_dir / 'train.txt'} has {len(train_ids)}."
        )
    test_ids = (kvasir_dir / "val.txt").read_text().split()
    test_ids = test_ids if test is None else test_ids[:test]

    def entries(ids: list[str]) -> list[dict]:
        return [{"image": f"images/{i}.jpg", "label": f"masks/{i}.jpg"} for i in ids]

    return write_datalist(
        output,
        {
            "training": entries(train_ids[:train]),
            "validation": entries(train_ids[len(train_ids) - validation :]),
            "test": entries(test_ids),
        },
        name="Kvasir-SEG demo subset",
        description=f"first {train} and last {validation} (validation) images of the official training split; "
        f"{len(test_ids)} official test images",
    )


def synthetic_dataset(
    folder: str | os.PathLike, train: int, validation: int, test: int, size: tuple[int, int] = (96, 128), seed: int = 0
) -> str:
    """Write ``train + validation + test`` synthetic RGB images (``images/*.jpg``) with binary masks (``masks/*.png``,
    0/255) made by ``monai.data.synthetic.create_test_image_2d``, and their datalist; returns the datalist path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    entries = []
    for index in range(train + validation + test):
        height, width = size
        image, mask = create_test_image_2d(
            height, width, num_objs=3, rad_max=18, rad_min=8, noise_max=0.3, num_seg_classes=1, random_state=rng
        )
        tint = rng.uniform(0.6, 1.0, size=3)
        rgb = (np.clip(image, 0, 1)[..., None] * tint * 255).astype(np.uint8)
        name = f"synthetic_{index:03d}"
        Image.fromarray(rgb).save(folder / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(((mask > 0) * 255).astype(np.uint8)).save(folder / "masks" / f"{name}.png")
        entries.append({"image": f"images/{name}.jpg", "label": f"masks/{name}.png"})
    return write_datalist(
        folder / "datalist.json",
        {
            "training": entries[:train],
            "validation": entries[train : train + validation],
            "test": entries[train + validation :],
        },
        name="synthetic demo data",
        description="monai.data.synthetic.create_test_image_2d circles, tinted RGB JPEG images, 0/255 PNG masks",
    )


def prepare_demo_data(
    output_dir: str,
    train: int = 24,
    validation: int = 8,
    test: int | None = None,
    source: str = "auto",
    bundle_root: str | None = None,
) -> tuple[str, str]:
    """Prepare the demo's data; returns ``(dataset_dir, datalist)``.

    Args:
        output_dir: the demo's output folder (synthetic data and the datalist go under ``<output_dir>/data``).
        train, validation, test: how many images per split (``test`` None: Kvasir-SEG's 120 official test images,
            8 synthetic ones).
        source: ``"kvasir"`` (the real images under the data root), ``"synthetic"``, or ``"auto"`` (Kvasir-SEG when
            it is there).
        bundle_root: the bundle the demo runs; Kvasir-SEG is looked for where that bundle's default dataset folder is
            (:func:`~meddisseg_monai.data.default_dataset_dir`: ``$MEDDISSEG_DATA_ROOT`` or ``../shared/data``
            beside its source checkout).
    """
    folder = get_dataset("kvasir_seg").folder
    kvasir_dir = Path(default_dataset_dir(bundle_root or ".", folder) or Path(output_dir) / "no_kvasir")
    data_dir = Path(output_dir) / "data"
    use_kvasir = source == "kvasir" or (source == "auto" and (kvasir_dir / "train.txt").is_file())
    if use_kvasir:
        datalist = kvasir_subset(kvasir_dir, data_dir / "datalist.json", train, validation, test)
        return str(kvasir_dir), datalist
    if source not in ("auto", "synthetic"):
        raise ValueError(f"source must be 'auto', 'kvasir' or 'synthetic', got {source!r}.")
    datalist = synthetic_dataset(data_dir / "synthetic", train, validation, 8 if test is None else test)
    return str(data_dir / "synthetic"), datalist


def main() -> None:
    """Command line: ``python -m meddisseg_monai.data.demo --output_dir DIR [--source auto|kvasir|synthetic]``;
    prints ``<dataset_dir> <datalist>``."""
    import fire

    fire.Fire(lambda **kwargs: " ".join(prepare_demo_data(**kwargs)))


if __name__ == "__main__":
    main()
