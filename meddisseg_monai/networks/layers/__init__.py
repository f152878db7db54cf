from __future__ import annotations

from .activations import TeLU, register_activations, telu

__all__ = ["TeLU", "register_activations", "telu"]
