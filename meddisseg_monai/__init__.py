"""Med-DisSeg as MONAI components: networks, the Dispersive Loss, composite losses, metrics and workflows."""

from __future__ import annotations

__version__ = "0.1.0"
