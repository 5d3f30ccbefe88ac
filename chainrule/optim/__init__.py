"""Optimisers and learning-rate schedules, equal to `torch.optim` step for step.

    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        sched.step()

The short names the Solver and the CLI use: `create("momentum", params, lr=0.1)`
and `lr_scheduler.from_spec("step:30:0.1", opt, epochs=90)`.
"""
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .adadelta import Adadelta  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from . import factory  # noqa: F401
from .factory import create  # noqa: F401
from . import lr_scheduler  # noqa: F401
from . import swa_utils  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "create", "lr_scheduler", "swa_utils"]
