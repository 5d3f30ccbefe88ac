"""`chainrule.utils`: the helpers PyTorch code imports from `torch.utils` (today: `utils.data`)."""
from . import data  # noqa: F401
