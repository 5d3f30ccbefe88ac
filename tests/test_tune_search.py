"""cr.tune.search / coarse_to_fine on synthetic objectives: reproducibility, pruning,
narrowing, border warnings, objective forms, results export and the scatter plot."""
import csv
import json
import math
import warnings

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from chainrule.tune import (  # noqa: E402
    Choice, IntUniform, LogUniform, TuneBorderWarning, TuneTrial, Uniform, coarse_to_fine, search,
)
from chainrule.tune.report import border_messages  # noqa: E402

SPACE = {"lr": LogUniform(1e-5, 1e-1), "wd": LogUniform(1e-6, 1e-2), "h": Choice([64, 128]),
         "dropout": Uniform(0, 0.5)}


def bowl(params, report):
    """A smooth 'accuracy' peaking at lr=1e-3, wd=1e-4 (log space), dropout=0.25."""
    acc = 1.0 - 0.1 * (math.log10(params["lr"]) + 3) ** 2 - 0.05 * (math.log10(params["wd"]) + 4) ** 2
    acc -= (params.get("dropout", 0.25) - 0.25) ** 2
    report(acc, 0)
    return acc


def test_same_seed_same_trials_and_other_seed_differs():
    a = search(bowl, SPACE, 12, seed=5, warn_border=False)
    b = search(bowl, SPACE, 12, seed=5, warn_border=False)
    c = search(bowl, SPACE, 12, seed=6, warn_border=False)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert [t.params for t in a.trials] != [t.params for t in c.trials]
    assert a.best_params == b.best_params


def test_trial_k_does_not_depend_on_the_budget_or_order():
    # Per-trial seeding: trial k's params are a function of (seed, k) only.
    short = search(bowl, SPACE, 5, seed=1, warn_border=False)
    long = search(bowl, SPACE, 15, seed=1, warn_border=False)
    assert [t.params for t in short.trials] == [t.params for t in long.trials[:5]]


def test_chainrule_rng_is_seeded_per_trial():
    from chainrule.rng import get_generator

    def draws(params, report):
        return float(get_generator().random())

    a = search(draws, {"x": Uniform(0, 1)}, 4, seed=2, warn_border=False)
    b = search(draws, {"x": Uniform(0, 1)}, 4, seed=2, warn_border=False)
    vals = [t.value for t in a.trials]
    assert vals == [t.value for t in b.trials]
    assert len(set(vals)) == 4


def test_random_search_finds_the_peak_region():
    res = search(bowl, SPACE, 60, seed=0, warn_border=False)
    assert len(res.trials) == 60
    assert abs(math.log10(res.best_params["lr"]) + 3) < 0.6
    assert res.best_value > 0.9


def test_pruning_stops_a_trial_that_reports_poor_accuracy():
    steps_run = {}

    def curves(trial: TuneTrial):
        good = trial.number < 6 or trial.number == 7
        for epoch in range(5):
            steps_run[trial.number] = epoch
            trial.report(0.9 if good else 0.1, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 0.9 if good else 0.1

    res = search(curves, {"lr": LogUniform(1e-4, 1e-1)}, 8, pruner="median", warn_border=False)
    states = {t.number: t.state.name for t in res.trials}
    assert states[6] == "PRUNED"
    assert steps_run[6] == 1  # stopped after the second epoch (warm-up: the first report never prunes)
    assert all(states[n] == "COMPLETE" for n in (0, 1, 2, 3, 4, 5, 7))
    assert res.pruned[0].value == pytest.approx(0.1)  # the last reported value
    # the same with no pruner runs every epoch
    steps_run.clear()
    res = search(curves, {"lr": LogUniform(1e-4, 1e-1)}, 8, pruner=None, warn_border=False)
    assert steps_run[6] == 4 and all(t.state.name == "COMPLETE" for t in res.trials)


def test_report_function_raises_trial_pruned_for_babysitting():
    def obj(params, report):
        bad = params["lr"] > 1e-2
        for epoch in range(4):
            report(0.2 if bad else 0.8, epoch)  # raises optuna.TrialPruned when hopeless
        return 0.2 if bad else 0.8

    res = search(obj, {"lr": LogUniform(1e-4, 1e0)}, 20, seed=0, warn_border=False)
    bad = [t for t in res.trials if t.params["lr"] > 1e-2]
    late_bad = [t for t in bad if t.number >= 6]
    assert late_bad and all(t.state.name == "PRUNED" for t in late_bad)
    assert all(t.state.name == "COMPLETE" for t in res.trials if t.params["lr"] <= 1e-2)


_DIGITS = []


def small_solver(lr, num_epochs=4):
    """A real cr.Solver: a small MLP on 200 digits, a few milliseconds an epoch."""
    import chainrule as cr

    if not _DIGITS:
        _DIGITS.append(cr.data.load("digits", subsample=200))
    cr.manual_seed(0)
    model = cr.models.build_for("two_layer_net", _DIGITS[0], hidden_dim=16)
    return cr.Solver(model, _DIGITS[0], lr=lr, num_epochs=num_epochs, batch_size=50, verbose=False,
                     preprocess=cr.data.transforms.PerChannelNormalize())


def test_solver_factory_is_trained_with_a_pruning_callback():
    made = []

    def factory(params):
        made.append(small_solver(params["lr"]))
        return made[-1]

    res = search(factory, {"lr": LogUniform(1e-7, 1e-1)}, 12, seed=0, warn_border=False)
    for t, s in zip(res.trials, made):
        if t.state.name == "COMPLETE":
            assert t.value == pytest.approx(s.best_val_acc) and s.epoch == 4
            assert t.user_attrs["val_acc_history"] == pytest.approx(s.val_acc_history)
        else:
            assert t.state.name == "PRUNED" and s.epoch < 4
    assert res.pruned, "some far-off learning rates should have been pruned"
    assert res.best_params["lr"] > 1e-4 and res.best_value > 0.7


def test_coarse_to_fine_narrows_around_the_optimum():
    space = {"lr": LogUniform(1e-6, 1e0), "wd": LogUniform(1e-8, 1e-2)}
    res = coarse_to_fine(bowl, space, 30, rounds=3, keep_top=0.2, seed=0, pruner=None, study_name="c2f")
    assert [r.study_name for r in res.rounds] == ["c2f-r1", "c2f-r2", "c2f-r3"]
    for prev, cur in zip(res.spaces, res.spaces[1:]):
        for name in space:
            width = math.log10(cur[name].high) - math.log10(cur[name].low)
            assert width < 0.7 * (math.log10(prev[name].high) - math.log10(prev[name].low))
    final = res.spaces[-1]
    assert final["lr"].low < 1e-3 < final["lr"].high
    assert final["wd"].low < 1e-4 < final["wd"].high
    # every trial lies in its round's range, and the later rounds sample the good region
    for r, s in zip(res.rounds, res.spaces):
        for t in r.trials:
            assert s["lr"].low <= t.params["lr"] <= s["lr"].high
    medians = [np.median([t.value for t in r.trials]) for r in res.rounds]
    assert medians[0] < medians[1] < medians[2] and medians[2] > 0.95
    assert res.best_value == max(r.best_value for r in res.rounds)
    assert len(res.trials) == 90 and {row["round"] for row in res.rows()} == {1, 2, 3}
    # the round's space is stored in its study
    stored = res.rounds[1].study.user_attrs["chainrule.space"]
    assert stored["lr"]["low"] == pytest.approx(res.spaces[1]["lr"].low)


def test_coarse_to_fine_per_round_budgets_and_int_choice_dims():
    space = {"lr": LogUniform(1e-5, 1e-1), "n": IntUniform(1, 16), "h": Choice([1, 2])}

    def obj(p, report):
        return -abs(math.log10(p["lr"]) + 3) - abs(p["n"] - 6) / 4

    res = coarse_to_fine(obj, space, [20, 10], rounds=2, seed=0, warn_border=False)
    assert [len(r.trials) for r in res.rounds] == [20, 10]
    assert isinstance(res.spaces[1]["n"], IntUniform) and res.spaces[1]["h"] == space["h"]
    assert res.spaces[1]["n"].low <= 6 <= res.spaces[1]["n"].high


def test_border_warning_fires_for_a_best_value_on_the_edge():
    def edge(params, report):  # best lr at the top of its range
        return math.log10(params["lr"])

    with pytest.warns(TuneBorderWarning, match=r"best lr=.*upper 10%.*log scale"):
        search(edge, {"lr": LogUniform(1e-5, 1e-1)}, 60, seed=0)


def test_border_warning_stays_quiet_for_an_interior_best():
    with warnings.catch_warnings():
        warnings.simplefilter("error", TuneBorderWarning)
        res = search(bowl, {"lr": LogUniform(1e-5, 1e-1), "wd": LogUniform(1e-6, 1e-2)}, 40, seed=0)
    assert res.border_warnings() == []


def test_border_messages_use_log_space_for_log_ranges():
    space = {"lr": LogUniform(1e-5, 1e-1), "d": Uniform(0, 0.5), "h": Choice([1, 2])}
    # 2e-5 is 0.2% of the way linearly but 7.5% in log space: on the border either way;
    # 5e-3 is 5% of the linear range from the top but 67% in log space: not on the border.
    assert len(border_messages(space, {"lr": 2e-5, "d": 0.25, "h": 1})) == 1
    assert border_messages(space, {"lr": 5e-3, "d": 0.25, "h": 2}) == []
    msgs = border_messages(space, {"lr": 1e-3, "d": 0.48, "h": 1})
    assert len(msgs) == 1 and "best d=0.48" in msgs[0] and "upper" in msgs[0]


def test_grid_and_tpe_samplers():
    grid = search(bowl, {"lr": LogUniform(1e-5, 1e-1), "wd": LogUniform(1e-6, 1e-2)}, 9, sampler="grid",
                  warn_border=False)
    pts = {(round(math.log10(t.params["lr"]), 6), round(math.log10(t.params["wd"]), 6)) for t in grid.trials}
    assert pts == {(a, b) for a in (-5.0, -3.0, -1.0) for b in (-6.0, -4.0, -2.0)}
    tpe1 = search(bowl, SPACE, 25, sampler="tpe", seed=3, pruner=None, warn_border=False)
    tpe2 = search(bowl, SPACE, 25, sampler="tpe", seed=3, pruner=None, warn_border=False)
    assert [t.params for t in tpe1.trials] == [t.params for t in tpe2.trials]  # one worker: reproducible
    assert tpe1.best_value > 0.8


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="sampler"):
        search(bowl, SPACE, 3, sampler="annealing")
    with pytest.raises(ValueError, match="pruner"):
        search(bowl, SPACE, 3, pruner="hyperband?")
    with pytest.raises(ValueError, match="n_trials"):
        search(bowl, SPACE, 0)
    with pytest.raises(ValueError, match="storage"):
        search(bowl, SPACE, 3, n_workers=2)  # in memory cannot be shared by processes
    with pytest.raises(ValueError, match="search space"):
        search(bowl, {"lr": (1e-5, 1e-1, "log")}, 3)
    with pytest.raises(TypeError, match="expected a number or a Solver"):
        search(lambda p, r: "oops", SPACE, 1)


def test_study_is_topped_up_not_restarted(tmp_path):
    path = str(tmp_path / "s.journal")
    search(bowl, SPACE, 5, storage=path, study_name="s", warn_border=False)
    res = search(bowl, SPACE, 8, storage=path, study_name="s", warn_border=False)
    assert sorted(t.number for t in res.trials) == list(range(8))


def test_table_csv_json_and_plot(tmp_path):
    res = search(bowl, SPACE, 15, seed=0, warn_border=False)
    rows = res.rows()
    values = [r["value"] for r in rows if r["state"] == "COMPLETE"]
    assert values == sorted(values, reverse=True)
    assert rows[0]["number"] == res.best_trial.number
    assert set(rows[0]) >= {"number", "lr", "wd", "h", "dropout", "value", "state", "duration_s"}
    text = res.table(top=5)
    assert len(text.splitlines()) == 6 and "lr" in text.splitlines()[0]
    with open(res.to_csv(tmp_path / "t.csv")) as fh:
        got = list(csv.DictReader(fh))
    assert len(got) == 15 and float(got[0]["value"]) == pytest.approx(res.best_value)
    with open(res.to_json(tmp_path / "t.json")) as fh:
        data = json.load(fh)
    assert data["best"]["number"] == res.best_trial.number and len(data["trials"]) == 15
    assert data["space"]["lr"] == {"type": "LogUniform", "low": 1e-5, "high": 1e-1}
    png = res.plot(tmp_path / "scatter.png")
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    from chainrule.tune.plot import pick_axes

    assert pick_axes(SPACE) == ("lr", "wd")
    assert pick_axes(SPACE, y="dropout") == ("lr", "dropout")
    with pytest.raises(ValueError, match="no parameter"):
        pick_axes(SPACE, x="momentum")
    img = __import__("matplotlib.image", fromlist=["imread"]).imread(png)
    assert img.shape[0] > 100 and np.ptp(img) > 0


def test_fail_running_frees_the_budget_left_by_a_dead_worker(tmp_path):
    from chainrule.tune import create_study, load_study
    from chainrule.tune.storage import fail_running

    path = str(tmp_path / "s.journal")
    study = create_study(path, "s")
    study.ask()  # a trial left RUNNING by a worker that died
    res = search(bowl, SPACE, 4, storage=path, study_name="s", warn_border=False)
    assert len(res.completed) == 3  # the stale trial still counts against the budget
    assert fail_running(path, "s") == [0]
    res = search(bowl, SPACE, 4, storage=path, study_name="s", warn_border=False)
    assert len(res.completed) == 4 and load_study(path, "s").trials[0].state.name == "FAIL"


def test_callers_chainrule_rng_state_is_restored():
    from chainrule.rng import get_generator, manual_seed

    manual_seed(123)
    expected = get_generator().random()
    manual_seed(123)
    search(lambda p, r: float(get_generator().random()), {"x": Uniform(0, 1)}, 3, warn_border=False)
    assert get_generator().random() == expected


def test_minimize_ranks_and_warns_the_other_way():
    def loss(params, report):
        return (math.log10(params["lr"]) + 3) ** 2

    res = search(loss, {"lr": LogUniform(1e-5, 1e-1)}, 20, direction="minimize", warn_border=False)
    assert res.best_value == min(t.value for t in res.trials)
    assert [r["value"] for r in res.rows()] == sorted(t.value for t in res.trials)
    assert res.border_warnings() == []
    with pytest.raises(ValueError, match="direction"):
        search(loss, {"lr": LogUniform(1e-5, 1e-1)}, 2, direction="down")


def test_real_solver_factory_is_pruned_when_hopeless():
    import chainrule as cr
    data = cr.data.load("digits", subsample=300)
    solvers = []

    def factory(trial):  # the first five trials learn; trial 5 uses a hopeless learning rate
        lr = 3e-3 if trial.number < 5 else 1e-7
        model = cr.nn.Sequential(cr.nn.Flatten(), cr.models.get("two_layer_net", input_dim=64, hidden_dim=32))
        solvers.append(cr.Solver(model, data, lr=lr, num_epochs=4, batch_size=32, seed=trial.seed, verbose=False))
        return solvers[-1]

    res = search(factory, {"unused": Uniform(0, 1)}, 6, warn_border=False)
    states = [t.state.name for t in res.trials]
    assert states == ["COMPLETE"] * 5 + ["PRUNED"]
    assert len(solvers[5].val_acc_history) == 2  # stopped after its second epoch
    assert all(len(s.val_acc_history) == 4 for s in solvers[:5])
    assert res.trials[0].value == pytest.approx(solvers[0].best_val_acc)
    assert res.trials[0].intermediate_values == {i: pytest.approx(v) for i, v in enumerate(solvers[0].val_acc_history)}


def test_grid_workers_share_one_grid_order():
    # Grid trial k takes point k of the seeded shuffle: workers must agree on it.
    from chainrule.tune.samplers import make_sampler

    space = {"lr": LogUniform(1e-5, 1e-1), "wd": LogUniform(1e-6, 1e-2)}
    a, b = (make_sampler("grid", space, 9, seed=3, worker=w) for w in (0, 1))
    assert a._all_grids == b._all_grids and len(a._all_grids) == 9


def test_diverged_trials_are_pruned_not_fatal():
    def obj(params, report):
        if params["lr"] > 1e-2:
            return float("nan")  # e.g. the loss exploded
        return 1.0 - abs(math.log10(params["lr"]) + 3)

    made = []

    def factory(params):
        made.append(small_solver(params["lr"], num_epochs=1))
        if params["lr"] > 1e-2:
            def boom():
                raise FloatingPointError("loss is nan at iteration 3")
            made[-1].train = boom
        return made[-1]

    for fn in (obj, factory):
        res = search(fn, {"lr": LogUniform(1e-5, 1e0)}, 12, seed=0, pruner=None, warn_border=False)
        assert len(res.trials) == 12  # the budget is met: diverged trials count
        hot = [t for t in res.trials if t.params["lr"] > 1e-2]
        assert hot and all(t.state.name == "PRUNED" and "chainrule.diverged" in t.user_attrs for t in hot)
        assert all(t.state.name == "COMPLETE" for t in res.trials if t.params["lr"] <= 1e-2)
