"""Preprocessing (fitted on train), augmentation (random, per image) and test-time views.

    from chainrule.data import transforms as T
    norm = T.PerChannelNormalize().fit(T.ToFloat()(data.X_train))
    train_tf = T.Compose([T.ToFloat(), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), norm])
"""
from .base import Compose, ToFloat, Transform, check_batch  # noqa: F401
from .preprocess import (  # noqa: F401
    MeanImage, NotFittedError, PCAWhiten, PerChannelNormalize, Preprocessor, check_is_fitted, is_fitted,
    preprocessor_from_config, preprocessor_from_state, preprocessor_to_state,
)
from .augment import (  # noqa: F401
    ColorJitter, PCALighting, RandomAugmentation, RandomCrop, RandomHorizontalFlip,
    RandomResizedCrop, RandomScaleCrop,
)
from .affine import RandomAffine, RandomRotation, affine_matrices, warp_affine  # noqa: F401
from .distortion import ElasticDistortion, RandomLensDistortion  # noqa: F401  (issue 26)
from .resize import crop_resize, resize  # noqa: F401
from .tta import CenterCrop, Resize, TenCrop, predict_multiscale, predict_tta  # noqa: F401
