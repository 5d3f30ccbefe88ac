"""Image features, the course's pre-CNN pipeline (assignment 1's features.py): histograms of
oriented gradients and of hue, concatenated per image and fed to a linear classifier or kNN.

    import chainrule as cr
    X = cr.features.extract_features(images_nhwc, [cr.features.hog_feature, cr.features.color_histogram_hsv])
    # chainrule linear --data cifar10 --features hog,hsv   (docs/classifiers.md)
"""
from .color import color_histogram_hsv, color_histograms_hsv, rgb_to_hue  # noqa: F401
from .extract import FEATURES, extract_features, feature_functions, feature_splits  # noqa: F401
from .hog import ASSIGNMENT_GREY_WEIGHTS, GREY_WEIGHTS, hog_feature, hog_features  # noqa: F401
