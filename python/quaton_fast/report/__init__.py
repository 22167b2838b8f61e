"""PNG reports of D2NN runs (matplotlib, Agg backend): phase masks, output intensity with the
detector regions, confusion matrix, per-epoch phase histograms ("progressive quantization")."""
from .plots import plot_confusion, plot_output_intensity, plot_phase_histograms, plot_phase_masks

__all__ = ["plot_phase_masks", "plot_output_intensity", "plot_confusion", "plot_phase_histograms"]
