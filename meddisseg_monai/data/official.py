"""The datalists of the five datasets, built from each dataset's release layout (the layouts in ``../shared/data``).

Protocols: Kvasir-Sessile and ISIC-2017 release train / validation / test: validation selects checkpoints, test is
reported. Kvasir-SEG, GlaS and ISIC-2016 release only train and test, and the paper selects checkpoints on the test
split it reports; their default datalists reproduce that (``validation`` = ``test``, said in the file's
``protocol``), and a ``*_holdout.json`` variant carves a validation split from train (seed 0, 10%) and keeps the test
split apart: the sound alternative.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .builder import carve_validation, pair_images_and_masks
from .datalist import write_datalist
from .registry import get_dataset

__all__ = ["OFFICIAL_BUILDERS", "build_official_datalists", "HOLDOUT_FRACTION", "HOLDOUT_SEED"]

HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 0

PAPER_PROTOCOL = (
    "paper protocol: the dataset releases only train and test, and checkpoints are selected on the test split that is "
    "reported (validation = test). For a sound evaluation use the *_holdout.json variant."
)
HOLDOUT_PROTOCOL = (
    "holdout protocol: validation is carved from the official training split (seed {seed}, {pct}%); the official "
    "test split is only evaluated."
)
THREE_WAY_PROTOCOL = "validation selects checkpoints; test is reported."


def _ids(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _kvasir_entries(ids: list[str]) -> list[dict]:
    return [{"image": f"images/{i}.jpg", "label": f"masks/{i}.jpg"} for i in ids]


def _with_holdout(stem: str, training: list[dict], test: list[dict], output_dir: Path, **info: str) -> list[str]:
    written = [
        write_datalist(
            output_dir / f"{stem}.json",
            {"training": training, "validation": test, "test": test},
            protocol=PAPER_PROTOCOL,
            **info,
        )
    ]
    kept, validation = carve_validation(training, HOLDOUT_FRACTION, HOLDOUT_SEED)
    written.append(
        write_datalist(
            output_dir / f"{stem}_holdout.json",
            {"training": kept, "validation": validation, "test": test},
            protocol=HOLDOUT_PROTOCOL.format(seed=HOLDOUT_SEED, pct=round(100 * HOLDOUT_FRACTION)),
            **info,
        )
    )
    return written


def kvasir_seg(data_root: Path, output_dir: Path) -> list[str]:
    """Kvasir-SEG: the dataset authors' ``train.txt`` (880) / ``val.txt`` (120), used as train / test."""
    folder = data_root / get_dataset("kvasir_seg").folder
    training = _kvasir_entries(_ids(folder / "train.txt"))
    test = _kvasir_entries(_ids(folder / "val.txt"))
    return _with_holdout(
        "kvasir_seg",
        training,
        test,
        output_dir,
        name="Kvasir-SEG",
        description="Kvasir-SEG polyps, official 880/120 split (Jha et al., MMM 2020); paths relative to Kvasir-SEG/",
    )


def kvasir_sessile(data_root: Path, output_dir: Path) -> list[str]:
    """Kvasir-Sessile: 156 / 20 / 20 (``train.txt``, ``val.txt``, ``test.txt``); images and masks are the Kvasir-SEG
    files of the same ids (the sessile release has the same ``images/`` ``masks/`` layout)."""
    folder = data_root / "Kvasir-Sessile"
    splits = {
        key: _kvasir_entries(_ids(folder / f"{stem}.txt"))
        for key, stem in (("training", "train"), ("validation", "val"), ("test", "test"))
    }
    kvasir_train = set(_ids(data_root / get_dataset("kvasir_seg").folder / "train.txt"))
    sessile = _ids(folder / "names.txt")
    outside = [i for i in sessile if i not in kvasir_train]
    return [
        write_datalist(
            output_dir / "kvasir_sessile.json",
            splits,
            name="Kvasir-Sessile",
            protocol=THREE_WAY_PROTOCOL,
            description=(
                "Kvasir-SEG sessile polyps, 156/20/20 (a fixed random split, seed 20260521: the literature's split "
                "was never published); paths relative to the Kvasir-SEG (or sessile-main-Kvasir-SEG) folder"
            ),
        ),
        # Kvasir-Sessile is a subset of Kvasir-SEG: the images a Kvasir-SEG-trained model never trained on
        write_datalist(
            output_dir / "kvasir_sessile_outside_kvasir_seg_train.json",
            {"test": _kvasir_entries(outside)},
            name="Kvasir-Sessile outside Kvasir-SEG's training split",
            description=(
                f"the {len(outside)} of the {len(sessile)} Kvasir-Sessile images (names.txt) that are not in "
                "Kvasir-SEG's official training split (train.txt); all are in its official test split (val.txt); "
                "paths relative to Kvasir-SEG/"
            ),
            protocol="cross-dataset test only: never trained or selected on",
        ),
    ]


def glas(data_root: Path, output_dir: Path) -> list[str]:
    """GlaS: ``Train_Folder`` (85) / ``Test_Folder`` (80, testA and testB mixed); masks are instance maps."""
    folder = data_root / get_dataset("glas").folder

    def numeric(entry: dict) -> tuple:
        stem = Path(entry["image"]).stem
        return (int(stem), stem) if stem.isdigit() else (10**9, stem)

    training = sorted(
        pair_images_and_masks(folder / "Train_Folder/img", folder / "Train_Folder/labelcol", folder), key=numeric
    )
    test = sorted(
        pair_images_and_masks(folder / "Test_Folder/img", folder / "Test_Folder/labelcol", folder), key=numeric
    )
    return _with_holdout(
        "glas",
        training,
        test,
        output_dir,
        name="GlaS",
        description=(
            "GlaS colon glands, official 85/80 split (Sirinukunwattana et al., MedIA 2017); paths relative to GlaS/"
        ),
    )


_ISIC2016 = {
    "train": ("ISBI2016_ISIC_Part1_Training_Data", "ISBI2016_ISIC_Part1_Training_GroundTruth"),
    "test": ("ISBI2016_ISIC_Part1_Test_Data", "ISBI2016_ISIC_Part1_Test_GroundTruth"),
}
_ISIC2017 = {
    "training": ("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"),
    "validation": ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth"),
    "test": ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part1_GroundTruth"),
}


def _isic2016_entry(image_id: str, split: str) -> dict:
    images, masks = _ISIC2016[split]
    return {"image": f"{images}/{image_id}.jpg", "label": f"{masks}/{image_id}_Segmentation.png"}


def _isic2017_entry(image_id: str, split: str) -> dict:
    images, masks = _ISIC2017[split]
    return {"image": f"{images}/{image_id}.jpg", "label": f"{masks}/{image_id}_segmentation.png"}


def isic2016(data_root: Path, output_dir: Path) -> list[str]:
    """ISIC-2016: the official ids (900 / 379) in the ISIC-2016 release layout, plus ``isic2016_in_isic2017.json``:
    the ids whose image and mask are in an ISIC-2017 folder here (same lesions), paths relative to ISIC-2017/."""
    ids_folder = data_root / "ISIC-2016-ids"
    train_ids, test_ids = _ids(ids_folder / "train_ids.txt"), _ids(ids_folder / "test_ids.txt")
    written = _with_holdout(
        "isic2016",
        [_isic2016_entry(i, "train") for i in train_ids],
        [_isic2016_entry(i, "test") for i in test_ids],
        output_dir,
        name="ISIC-2016",
        description="ISIC-2016 Part 1 lesions, official 900/379 ids; paths relative to the ISIC-2016 release folder",
    )
    isic2017 = data_root / get_dataset("isic2017").folder

    def available(image_id: str) -> dict | None:
        for split in ("training", "validation"):
            entry = _isic2017_entry(image_id, split)
            if (isic2017 / entry["image"]).is_file() and (isic2017 / entry["label"]).is_file():
                return entry
        return None

    training = [e for e in map(available, train_ids) if e]
    test = [e for e in map(available, test_ids) if e]
    written.append(
        write_datalist(
            output_dir / "isic2016_in_isic2017.json",
            {"training": training, "validation": test, "test": test},
            name="ISIC-2016 (subset found in ISIC-2017)",
            protocol=PAPER_PROTOCOL,
            description=(
                f"the official ISIC-2016 ids whose image and mask are in ISIC-2017 ({len(training)} of "
                f"{len(train_ids)} train, {len(test)} of {len(test_ids)} test); ISIC-2017's copies are 256x256 "
                "thumbnails here; paths relative to ISIC-2017/"
            ),
        )
    )
    return written


def isic2017(data_root: Path, output_dir: Path) -> list[str]:
    """ISIC-2017: official 2000 / 150 / 600 in the release layout (the test masks are not in ``../shared/data``)."""
    folder = data_root / get_dataset("isic2017").folder
    splits = {
        split: [_isic2017_entry(p.stem, split) for p in sorted((folder / images).glob("ISIC_*.jpg"))]
        for split, (images, _) in _ISIC2017.items()
    }
    return [
        write_datalist(
            output_dir / "isic2017.json",
            splits,
            name="ISIC-2017",
            protocol=THREE_WAY_PROTOCOL,
            description="ISIC-2017 Part 1 lesions, official 2000/150/600 split; paths relative to ISIC-2017/",
        )
    ]


OFFICIAL_BUILDERS: dict[str, Callable[[Path, Path], list[str]]] = {
    "kvasir_seg": kvasir_seg,
    "kvasir_sessile": kvasir_sessile,
    "glas": glas,
    "isic2016": isic2016,
    "isic2017": isic2017,
}


def build_official_datalists(
    data_root: str | os.PathLike, output_dir: str | os.PathLike, datasets: tuple[str, ...] | None = None
) -> list[str]:
    """Write the datalists of ``datasets`` (default: all five) from the release folders under ``data_root``."""
    names = list(OFFICIAL_BUILDERS) if not datasets else [get_dataset(d).name for d in datasets]
    written: list[str] = []
    for name in names:
        written += OFFICIAL_BUILDERS[name](Path(data_root), Path(output_dir))
    return written
