"""Names shared by the networks, losses, inferers and handlers: the keys of a Med-DisSeg network's training outputs.

One place for them, as MONAI keeps its keys in ``monai.utils.enums`` (``CommonKeys.PRED`` is ``"pred"`` too), so that
the losses and inferers do not import the network blocks to learn a name.
"""

from __future__ import annotations

__all__ = ["DECOUPLED_MAP_NAMES", "FEATURES", "PRED", "STAGE1_OUTPUT_KEYS", "STAGE2_OUTPUT_KEYS"]

#: the main logits (the tensor the network returns in eval mode)
PRED = "pred"
#: the encoder levels ``[f1, f2, f3, f4]``, shallow to deep (for the Dispersive Loss)
FEATURES = "features"
#: names of the three decoupled maps, in the order the blocks return them (and the auxiliary heads are held)
DECOUPLED_MAP_NAMES = ("foreground", "background", "uncertainty")
#: what ``MedDisSegStage1(auxiliary_outputs=True)`` returns in train mode
STAGE1_OUTPUT_KEYS = (PRED, FEATURES)
#: what ``MedDisSeg(auxiliary_outputs=True)`` returns in train mode
STAGE2_OUTPUT_KEYS = (PRED, FEATURES, *DECOUPLED_MAP_NAMES)
