"""The three ReFusion modules, one file each: F (fusion), R (reconstruction), P (loss proposal)."""

from refusion_core.models.fusion import FusionNet
from refusion_core.models.loss_proposal import MAP_NAMES, LossProposalNet
from refusion_core.models.reconstruction import ReconstructionNet

__all__ = ["FusionNet", "ReconstructionNet", "LossProposalNet", "MAP_NAMES"]
