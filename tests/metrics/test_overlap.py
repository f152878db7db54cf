from __future__ import annotations

import unittest

import torch
from ignite.engine import Engine
from monai.handlers import IgniteMetricHandler, from_engine
from parameterized import parameterized

from meddisseg_monai.metrics import PerImageOverlapMetric, overlap_scores

EPS = 1e-15


def mask(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


# prediction, truth, expected [IoU, Dice, recall, precision] computed by hand
HAND_CASES = [
    ["perfect", [[1, 1], [0, 0]], [[1, 1], [0, 0]], [1.0, 1.0, 1.0, 1.0]],
    ["partial", [[1, 1], [0, 0]], [[1, 0], [0, 0]], [1 / 2, 2 / 3, 1.0, 1 / 2]],
    ["disjoint", [[1, 0], [0, 0]], [[0, 0], [0, 1]], [0.0, 0.0, 0.0, 0.0]],
    ["larger", [[1, 1, 1], [1, 0, 0]], [[0, 1, 1], [0, 0, 1]], [2 / 5, 4 / 7, 2 / 3, 1 / 2]],
    # empty prediction and empty truth: everything is eps / eps = 1
    ["both empty", [[0, 0], [0, 0]], [[0, 0], [0, 0]], [1.0, 1.0, 1.0, 1.0]],
    # empty prediction of a non-empty truth: precision is eps / eps = 1 under this convention
    ["empty prediction", [[0, 0], [0, 0]], [[1, 1], [0, 0]], [0.0, 0.0, 0.0, 1.0]],
    # non-empty prediction of an empty truth: recall is eps / eps = 1
    ["empty truth", [[0, 1], [0, 0]], [[0, 0], [0, 0]], [0.0, 0.0, 1.0, 0.0]],
]


class TestOverlapScores(unittest.TestCase):
    @parameterized.expand(HAND_CASES)
    def test_hand_computed(self, _, prediction, truth, expected):
        scores = overlap_scores(mask(prediction), mask(truth), EPS)[0, 0]
        for value, target in zip(scores.tolist(), expected):
            self.assertAlmostEqual(value, target, places=12)


class TestPerImageOverlapMetric(unittest.TestCase):
    def test_average_over_images_counts_empty_truth(self):
        metric = PerImageOverlapMetric(None)
        # image 1 perfect, image 2 an empty truth predicted empty (1), image 3 a missed lesion (0)
        y_pred = torch.cat([mask([[1, 0], [0, 0]]), mask([[0, 0], [0, 0]]), mask([[0, 0], [0, 0]])])
        y = torch.cat([mask([[1, 0], [0, 0]]), mask([[0, 0], [0, 0]]), mask([[0, 1], [0, 0]])])
        metric(y_pred=y_pred * 0.9, y=y)  # probabilities are thresholded at 0.5
        result = metric.aggregate()
        self.assertAlmostEqual(result["dice"].item(), 2 / 3, places=6)
        self.assertAlmostEqual(result["recall"].item(), 2 / 3, places=6)
        self.assertAlmostEqual(result["precision"].item(), 1.0, places=6)

    def test_single_metric_and_buffer(self):
        metric = PerImageOverlapMetric("iou")
        metric(y_pred=[mask([[1, 1], [0, 0]])[0]], y=[mask([[1, 0], [0, 0]])[0]])  # a list of channel-first images
        self.assertAlmostEqual(metric.aggregate().item(), 0.5, places=6)
        self.assertEqual(tuple(metric.get_buffer().shape), (1, 1, 4))

    def test_multichannel_without_background(self):
        y = torch.zeros(1, 3, 2, 2)
        y[0, 0, 0, 0], y[0, 1, 0, 1], y[0, 2, 1] = 1, 1, 1
        y_pred = y.clone()
        y_pred[0, 2, 1, 1] = 0
        metric = PerImageOverlapMetric("dice", include_background=False)
        metric(y_pred=y_pred, y=y)
        self.assertAlmostEqual(metric.aggregate().item(), (1.0 + 2 / 3) / 2, places=6)

    def test_invalid(self):
        with self.assertRaises(ValueError):
            PerImageOverlapMetric("f1")
        with self.assertRaises(ValueError):
            PerImageOverlapMetric()(y_pred=torch.zeros(1, 1, 2, 2), y=torch.zeros(1, 1, 2, 3))

    def test_ignite_handler(self):
        batches = [
            {
                "pred": torch.cat([mask([[1, 1], [0, 0]]), mask([[0, 0], [0, 0]])]),
                "label": torch.cat([mask([[1, 0], [0, 0]]), mask([[0, 0], [0, 0]])]),
            },
            {"pred": mask([[0, 1], [0, 0]]), "label": mask([[0, 1], [0, 0]])},
        ]
        engine = Engine(lambda engine, batch: batch)
        IgniteMetricHandler(
            metric_fn=PerImageOverlapMetric("dice"), output_transform=from_engine(["pred", "label"])
        ).attach(engine, "mean_dice")
        engine.run(batches, max_epochs=1)
        self.assertAlmostEqual(engine.state.metrics["mean_dice"], (2 / 3 + 1 + 1) / 3, places=6)


if __name__ == "__main__":
    unittest.main()
