"""Neural-network building blocks (PyTorch's `torch.nn` names and semantics)."""
from .parameter import Parameter  # noqa: F401
