"""``NonFiniteGuard``'s gradient check: every NaN / Inf gradient is named, and a finite gradient whose sum overflows
(the fast path's only false alarm) does not stop training."""

from __future__ import annotations

import unittest

import torch
from ignite.engine import Engine
from parameterized import parameterized

from meddisseg_monai.handlers import NonFiniteError, NonFiniteGuard

BIG = torch.finfo(torch.float32).max / 2  # finite; two of them sum to Inf


def engine_with_gradients(gradients: dict[str, list[float]]) -> Engine:
    engine = Engine(lambda *_: None)
    engine.network = torch.nn.ParameterDict({k: torch.nn.Parameter(torch.zeros(len(v))) for k, v in gradients.items()})
    for name, values in gradients.items():
        engine.network[name].grad = torch.tensor(values)
    engine.state.epoch, engine.state.iteration = 1, 3
    return engine


CASES = [
    ["finite", {"a": [1.0, -2.0], "b": [0.0]}, None],
    ["huge_but_finite", {"a": [BIG, BIG, BIG], "b": [-BIG, -BIG]}, None],
    ["nan", {"a": [1.0, float("nan")], "b": [0.0]}, "gradient of 1 parameter(s) is not finite (a)"],
    ["inf_beside_huge", {"a": [BIG, BIG], "b": [float("inf"), 0.0]}, "gradient of 1 parameter(s) is not finite (b)"],
    ["plus_and_minus_inf", {"a": [float("inf"), -float("inf")], "b": [float("nan")]}, "2 parameter(s)"],
]


class TestNonFiniteGradients(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_gradient_check(self, _, gradients, message):
        engine = engine_with_gradients(gradients)
        if message is None:
            NonFiniteGuard().gradients_completed(engine)
            return
        with self.assertRaisesRegex(NonFiniteError, "epoch 1, iteration 3") as raised:
            NonFiniteGuard().gradients_completed(engine)
        self.assertIn(message, str(raised.exception))

    def test_parameters_without_gradients_are_skipped(self):
        engine = engine_with_gradients({"a": [1.0]})
        engine.network["frozen"] = torch.nn.Parameter(torch.zeros(2))
        NonFiniteGuard().gradients_completed(engine)


if __name__ == "__main__":
    unittest.main()
