"""Quantitative phase imaging: metrics, losses and the phase-object encoding of the all-optical QPI task (docs/physics.md)."""
from .encoding import crop_to_object, encode_phase_object, pad_to_grid
from .metrics import LOSS_NAMES, berhu, mse, qpi_loss, ssim, ssim_loss

__all__ = ["ssim", "ssim_loss", "mse", "berhu", "qpi_loss", "LOSS_NAMES", "encode_phase_object",
           "pad_to_grid", "crop_to_object"]
