"""Babysitting the learning process: sanity checks before training, statistics while
training, a verdict after it, and the lecture's initialisation experiment.

    import chainrule as cr
    from chainrule import diagnostics as D
    print(D.sanity_check(model, data))                      # initial loss, reg, overfit a tiny subset
    mon = [D.ActivationStats(every=50), D.UpdateRatio(every=10), D.GapVerdict()]
    cr.Solver(model, data, callbacks=mon).train()          # warns on dead ReLUs / bad update ratios
    D.init_experiment("tanh", "xavier")                     # per-layer activation statistics
"""
from .sanity import Check, SanityReport, expected_initial_loss, final_layer, sanity_check  # noqa: F401
from .stats import (  # noqa: F401
    ActivationStats, DiagnosticWarning, UpdateRatio, activation_summary, dead_fraction, layer_activations,
    leaf_modules, saturated_fraction,
)
from .verdict import Diagnosis, GapVerdict, diagnose_gap, gap_verdict  # noqa: F401
from .init_experiment import INITS, InitResult, build_deep_net, init_experiment  # noqa: F401
from .gradcheck_suite import CASES as GRADCHECK_CASES, format_table, run_gradchecks  # noqa: F401
