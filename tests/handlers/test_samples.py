from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path

import torch
from ignite.engine import Engine
from monai.data import DataLoader, Dataset
from monai.data.meta_tensor import MetaTensor

from meddisseg_monai.handlers import SampleRecorder


class TestSampleRecorder(unittest.TestCase):
    def test_records_each_epoch(self):
        items = [
            {"image": MetaTensor(torch.zeros(1, 2, 2), meta={"filename_or_obj": f"/data/img{i}.png"})} for i in range(5)
        ]
        loader = DataLoader(Dataset(items), batch_size=2, shuffle=False)
        engine = Engine(lambda e, b: None)
        with tempfile.TemporaryDirectory() as tmp:
            SampleRecorder(tmp).attach(engine)
            engine.run(loader, max_epochs=2)
            records = [json.loads(line) for line in (Path(tmp) / "samples_rank0.jsonl").read_text().splitlines()]
        self.assertEqual([r["epoch"] for r in records], [1, 2])
        self.assertEqual(records[1]["images"], [f"/data/img{i}.png" for i in range(5)])
        self.assertEqual(records[0]["rank"], 0)


if __name__ == "__main__":
    unittest.main()
