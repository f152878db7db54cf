from __future__ import annotations

import unittest

import torch
from monai.bundle import ConfigParser
from monai.networks import eval_mode, train_mode
from parameterized import parameterized

from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1

STAGE2 = "meddisseg_monai.networks.MedDisSeg"
STAGE1 = "meddisseg_monai.networks.MedDisSegStage1"

# _target_, network args, input shape, expected eval output shape
SHAPE_CASES = [
    [STAGE2, {"spatial_dims": 2, "in_channels": 3, "out_channels": 1}, (2, 3, 64, 64), (2, 1, 64, 64)],
    [STAGE2, {"spatial_dims": 2, "in_channels": 3, "out_channels": 4}, (1, 3, 64, 48), (1, 4, 64, 48)],
    [
        STAGE2,
        {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "feature_channels": 32},
        (1, 1, 32, 32),
        (1, 2, 32, 32),
    ],
    [
        STAGE2,
        {"spatial_dims": 3, "in_channels": 1, "out_channels": 14, "feature_channels": 32},
        (1, 1, 32, 32, 16),
        (1, 14, 32, 32, 16),
    ],
    [STAGE1, {"spatial_dims": 2, "in_channels": 3, "out_channels": 1}, (2, 3, 64, 64), (2, 1, 64, 64)],
    [STAGE1, {"spatial_dims": 3, "in_channels": 1, "out_channels": 14}, (1, 1, 32, 32, 32), (1, 14, 32, 32, 32)],
]

# _target_, args, parameters of the reference architecture (counted on the reference code), tolerance
PARAMETER_CASES = [
    [STAGE2, {"spatial_dims": 2, "in_channels": 3, "out_channels": 1}, 45_559_635],
    [STAGE1, {"spatial_dims": 2, "in_channels": 3, "out_channels": 1}, 8_673_884],
]

INVALID_OPTIONS = [
    [{"spatial_dims": 1}],
    [{"spatial_dims": 4}],
    [{"in_channels": 0}],
    [{"out_channels": -1}],
    [{"act": "no_such_activation"}],
    [{"norm": "no_such_norm"}],
    [{"feature_channels": 30}],  # not a multiple of num_heads=4
    [{"window_size": 2}],
]

INVALID_INPUTS = [
    [(1, 3, 60, 64), "multiple of 16"],
    [(1, 1, 64, 64), "input channel"],
    [(1, 3, 64, 64, 64), "spatial"],
    [(3, 64, 64), "spatial"],
]


def build(target: str, args: dict) -> torch.nn.Module:
    parser = ConfigParser({"network_def": {"_target_": target, **args}})
    return parser.get_parsed_content("network_def")


class TestMedDisSegNetworks(unittest.TestCase):
    @parameterized.expand([[*case, mode] for case in SHAPE_CASES for mode in (eval_mode, train_mode)])
    def test_one_tensor_through_config_in_either_mode(self, target, args, input_shape, expected, mode):
        """Built by ``_target_``: one tensor in eval mode, and in train mode by default (no auxiliary outputs)."""
        net = build(target, args)
        with mode(net):
            out = net(torch.randn(*input_shape))
        self.assertIsInstance(out, torch.Tensor)
        self.assertEqual(tuple(out.shape), expected)

    @parameterized.expand(SHAPE_CASES)
    def test_train_outputs_with_the_flag(self, target, args, input_shape, expected):
        net = build(target, {**args, "auxiliary_outputs": True})
        with eval_mode(net):
            self.assertIsInstance(net(torch.randn(*input_shape)), torch.Tensor)  # eval mode: one tensor regardless
        with train_mode(net):
            out = net(torch.randn(*input_shape))
        self.assertEqual(tuple(out["pred"].shape), expected)
        features = out["features"]
        self.assertEqual([f.shape[1] for f in features], [64, 256, 512, 1024])
        self.assertEqual([f.shape[2] for f in features], [input_shape[2] // s for s in (2, 4, 8, 16)])
        if target == STAGE2:
            for name in ("foreground", "background", "uncertainty"):
                self.assertEqual(tuple(out[name].shape), (expected[0], 1, *expected[2:]))
        else:
            self.assertEqual(set(out), {"pred", "features"})

    @parameterized.expand(PARAMETER_CASES)
    def test_parameter_count_matches_reference(self, target, args, reference):
        count = sum(p.numel() for p in build(target, args).parameters())
        self.assertLessEqual(abs(count - reference) / reference, 0.005)

    @parameterized.expand(INVALID_OPTIONS)
    def test_invalid_options_raise(self, kwargs):
        with self.assertRaises(ValueError):
            MedDisSeg(**kwargs)

    @parameterized.expand(INVALID_INPUTS)
    def test_invalid_inputs_raise(self, shape, message):
        net = MedDisSegStage1(spatial_dims=2, in_channels=3).eval()
        with self.assertRaisesRegex(ValueError, message):
            net(torch.randn(*shape))

    @parameterized.expand([[False, 0], [True, 3]])
    def test_auxiliary_heads_run_only_in_train_mode_with_the_flag(self, flag, train_calls):
        net = MedDisSeg(feature_channels=32, auxiliary_outputs=flag)
        calls = []
        for head in net.auxiliary_heads:
            head.register_forward_hook(lambda *_: calls.append(1))
        with eval_mode(net):
            net(torch.randn(1, 3, 32, 32))
        self.assertEqual(calls, [])
        with train_mode(net):
            net(torch.randn(2, 3, 32, 32))
        self.assertEqual(len(calls), train_calls)

    @parameterized.expand([[MedDisSeg, {"feature_channels": 32}], [MedDisSegStage1, {}]])
    def test_checkpoint_keys_do_not_depend_on_the_flag(self, cls, kwargs):
        with_flag, without = cls(**kwargs, auxiliary_outputs=True), cls(**kwargs)
        self.assertEqual(list(with_flag.state_dict()), list(without.state_dict()))
        without.load_state_dict(with_flag.state_dict())  # strict

    def test_encoder_starts_from_the_reference_resnet_initialisation(self):
        # torchvision / the reference: kaiming normal, fan_out, ReLU gain -> std = sqrt(2 / (out_channels * k * k))
        torch.manual_seed(0)
        encoder = MedDisSegStage1().encoder
        for conv, fan_out in ((encoder.conv1, 64 * 7 * 7), (encoder.layer3[0].conv2, 256 * 3 * 3)):
            expected = (2.0 / fan_out) ** 0.5
            self.assertAlmostEqual(conv.weight.std().item() / expected, 1.0, delta=0.05)
            self.assertAlmostEqual(conv.weight.mean().item(), 0.0, delta=0.1 * expected)
        self.assertTrue(torch.equal(encoder.bn1.weight, torch.ones(64)))
        self.assertTrue(torch.equal(encoder.bn1.bias, torch.zeros(64)))

    def test_training_gradients_reach_every_parameter(self):
        net = MedDisSeg(feature_channels=32, auxiliary_outputs=True)
        with train_mode(net):
            out = net(torch.randn(2, 3, 32, 32))
        loss = out["pred"].mean() + sum(out[k].mean() for k in ("foreground", "background", "uncertainty"))
        loss.backward()
        without_grad = [n for n, p in net.named_parameters() if p.grad is None]
        self.assertEqual(without_grad, [])


class TestTorchScript(unittest.TestCase):
    @parameterized.expand([[MedDisSeg, {"feature_channels": 32}], [MedDisSegStage1, {}]])
    def test_script_round_trip(self, cls, kwargs):
        net = cls(**kwargs).eval()
        x = torch.rand(1, 3, 64, 64)
        scripted = torch.jit.script(net)
        with torch.no_grad():
            torch.testing.assert_close(scripted(x), net(x))
            with self.assertRaises(Exception):  # the input check survives scripting
                scripted(torch.rand(1, 3, 60, 64))

    def test_trace_round_trip_through_file(self):
        import io

        net = MedDisSeg(feature_channels=32).eval()
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            traced = torch.jit.trace(net, x)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        y = torch.rand(2, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(loaded(y), net(y))


if __name__ == "__main__":
    unittest.main()
