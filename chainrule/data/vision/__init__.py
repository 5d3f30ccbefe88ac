"""torchvision's corner of chainrule: per-sample `transforms` and `datasets.ImageFolder`.

    from chainrule.data.vision import transforms as T
    from chainrule.data import ImageFolder
"""
from . import functional, transforms  # noqa: F401
