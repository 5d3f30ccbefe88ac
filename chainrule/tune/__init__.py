"""cr.tune: hyperparameter search on Optuna: random search in log space, coarse-to-fine,
Bayesian (TPE), grid; median pruning ("babysitting"); one process, local worker processes
(journal file) or many machines (PostgreSQL). See docs/tuning.md.

    from chainrule.tune import search, LogUniform, Uniform, Choice
    space = {"lr": LogUniform(1e-5, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2),
             "hidden_dim": Choice([64, 128, 256]), "dropout": Uniform(0, 0.5)}
    result = search(objective, space, n_trials=30)
    print(result.table(top=10)); result.plot("lr_vs_wd.png")
"""
from ..errors import require_module

# Optuna is the optional [tune] extra: without it, one line naming the install (issue 21 item 2)
require_module("optuna", "tune", "chainrule.tune (hyperparameter search)")
from .space import Choice, IntUniform, ListChoice, LogUniform, Uniform, parse_dimension, parse_space  # noqa: F401
from .report import SearchResult, TuneBorderWarning, border_messages  # noqa: F401
from .search import CoarseToFineResult, coarse_to_fine, narrow_space, search, trial_seed  # noqa: F401
from .storage import create_study, get_storage, load_study  # noqa: F401
from .trial import PruningCallback, TuneTrial  # noqa: F401
