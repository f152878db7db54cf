"""Every term of a composite loss in the trainer's output, for ``StatsHandler`` and ``TensorBoardStatsHandler``."""

from __future__ import annotations

from collections.abc import Mapping

from ignite.engine import Engine
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys

__all__ = ["LOSS_TERM_PREFIX", "LossTermsHandler", "loss_terms"]

LOSS_TERM_PREFIX = "loss_"


class LossTermsHandler:
    """After each loss computation, copy the trainer's ``loss_function.last_terms`` (the detached terms of
    :class:`~meddisseg_monai.losses.MedDisSegLoss` / ``MedDisSegStage1Loss``) into ``engine.state.output`` as
    ``"loss_<term>"`` 0-d tensors, which survive MONAI's decollation; :func:`loss_terms` reads them back.

    A loss without ``last_terms`` (e.g. a plain ``DiceCELoss``) publishes nothing.

    Bundle wiring: ``{"_target_": "meddisseg_monai.handlers.LossTermsHandler"}`` among ``train#handlers``, and
    ``"output_transform": "$meddisseg_monai.handlers.loss_terms"`` on the Stats / TensorBoard handlers.
    """

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(IterationEvents.LOSS_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        terms = getattr(engine.loss_function, "last_terms", None) or {}
        for name, value in terms.items():
            engine.state.output[LOSS_TERM_PREFIX + name] = value.detach()


def loss_terms(output: Mapping | list) -> dict[str, float]:
    """``output_transform`` for Stats / TensorBoard handlers: ``{"loss": total, "<term>": value, ...}`` from a trainer
    output (decollated or not) that :class:`LossTermsHandler` filled."""
    if isinstance(output, list):
        if not output:
            return {}
        output = output[0]
    terms = {k[len(LOSS_TERM_PREFIX) :]: float(v) for k, v in output.items() if k.startswith(LOSS_TERM_PREFIX)}
    if Keys.LOSS in output:
        terms[Keys.LOSS] = float(output[Keys.LOSS])
    return terms
