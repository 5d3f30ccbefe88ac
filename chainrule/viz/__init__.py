"""Plots for chainrule (matplotlib, drawn off-screen with the Agg canvas; PNG files)."""
from .classifiers import plot_cv_accuracy, plot_loss_curve, save_image_grid  # noqa: F401
