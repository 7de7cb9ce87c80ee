"""The three ReFusion modules, one file each: F (fusion), R (reconstruction), P (loss proposal)."""

from .fusion import FusionNet
from .loss_proposal import MAP_NAMES, LossProposalNet
from .reconstruction import ReconstructionNet

__all__ = ["FusionNet", "ReconstructionNet", "LossProposalNet", "MAP_NAMES"]
