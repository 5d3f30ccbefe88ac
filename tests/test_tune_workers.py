"""Three worker PROCESSES share one study, on a journal file and on PostgreSQL: every trial
is recorded exactly once, none lost or duplicated, the budget is met exactly, the params
do not depend on the interleaving, and the best trial is found.

PostgreSQL: uses $CHAINRULE_TEST_POSTGRES_URL (e.g. from `eval "$(.ci/postgres.sh)"`);
when it is unset and PostgreSQL server binaries are installed, starts a throw-away server
with .ci/postgres.sh (a few seconds) and stops it afterwards; otherwise skips.
"""
import glob
import math
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from chainrule.tune import LogUniform, Uniform, search  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"lr": LogUniform(1e-5, 1e-1), "x": Uniform(0, 1)}
N_TRIALS, N_WORKERS = 15, 3


def value_of(params):
    return 1.0 - (math.log10(params["lr"]) + 3) ** 2 / 4 - (params["x"] - 0.4) ** 2


class LoggingObjective:
    """Top-level and picklable (workers are spawned processes). Each call records
    `trial-number value` in a per-process log; the first call of each process waits until
    all workers have started, so that the trials really interleave."""

    def __init__(self, folder: str, n_workers: int) -> None:
        self.folder, self.n_workers = folder, n_workers

    def __call__(self, trial):
        pid = os.getpid()
        mine = Path(self.folder, f"log-{pid}")
        if not mine.exists():
            mine.touch()
            deadline = time.monotonic() + 20
            while len(glob.glob(os.path.join(self.folder, "log-*"))) < self.n_workers and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(0.02)
        v = value_of(trial)
        with open(mine, "a") as fh:
            fh.write(f"{trial.number} {v!r}\n")
        return v


def check_shared_study(storage, tmp_path, name):
    folder = tmp_path / "logs"
    folder.mkdir()
    res = search(LoggingObjective(str(folder), N_WORKERS), SPACE, N_TRIALS, storage=storage, study_name=name,
                 n_workers=N_WORKERS, seed=11, pruner=None, warn_border=False)
    # every worker ran trials, and no trial number was run twice
    ran = res.worker_trials
    assert sorted(ran) == [0, 1, 2] and all(len(v) >= 1 for v in ran.values())
    numbers = sorted(n for v in ran.values() for n in v)
    assert numbers == list(range(N_TRIALS))
    # what the worker processes logged is exactly what the study holds
    logged = {}
    for log in folder.glob("log-*"):
        for line in log.read_text().splitlines():
            n, v = line.split()
            assert int(n) not in logged, f"trial {n} ran twice"
            logged[int(n)] = float(v)
    trials = res.trials
    assert len(trials) == N_TRIALS and len(logged) == N_TRIALS
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert {t.number: t.value for t in trials} == logged
    assert len({t.number for t in trials}) == N_TRIALS
    # trial k's params depend on (seed, k) only: same as a single process in memory
    ref = search(lambda p, report: value_of(p), SPACE, N_TRIALS, seed=11, pruner=None, warn_border=False)
    assert {t.number: t.params for t in trials} == {t.number: t.params for t in ref.trials}
    assert res.best_trial.number == ref.best_trial.number
    assert res.best_value == max(logged.values())
    return res


def test_three_workers_on_a_journal_file(tmp_path):
    check_shared_study(str(tmp_path / "study.journal"), tmp_path, "journal")


def _pg_binaries():
    return shutil.which("pg_ctl") or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    url = os.environ.get("CHAINRULE_TEST_POSTGRES_URL")
    started = None
    if not url:
        if not _pg_binaries():
            pytest.skip("PostgreSQL: CHAINRULE_TEST_POSTGRES_URL is unset and no server binaries (pg_ctl) "
                        "are installed; run `eval \"$(.ci/postgres.sh)\"` to test against PostgreSQL")
        state = str(tmp_path_factory.mktemp("pg") / "state.env")
        env = dict(os.environ, CHAINRULE_PG_STATE=state)
        try:
            out = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "start", "--no-install"], env=env,
                                 capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.skip("PostgreSQL: .ci/postgres.sh did not start a server within 60 s")
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("export CHAINRULE_TEST_POSTGRES_URL=")]
        if out.returncode != 0 or not line:
            pytest.skip(f"PostgreSQL: .ci/postgres.sh could not start a server: {out.stderr.strip()[-300:]}")
        url = line[0].split("=", 1)[1]
        started = env
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5):
            pass
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {url.rsplit('@', 1)[-1]} is not reachable: {str(e).strip()[:200]}")
    yield url
    if started:
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "stop"], env=started, capture_output=True,
                       timeout=60)


def test_three_workers_on_postgresql(postgres_url, tmp_path):
    name = f"test-{uuid.uuid4().hex[:8]}"
    res = check_shared_study(postgres_url, tmp_path, name)
    # the study lives in the database: a fresh process-independent load sees all of it
    from chainrule.tune import load_study

    again = load_study(postgres_url, name)
    assert len([t for t in again.trials if t.state.name == "COMPLETE"]) == N_TRIALS
    assert again.user_attrs["chainrule.n_trials"] == N_TRIALS
    assert res.study_name == name


def test_create_study_once_then_workers_load_it(postgres_url):
    from chainrule.tune import create_study

    name = f"test-create-{uuid.uuid4().hex[:8]}"
    create_study(postgres_url, name, attrs={"n_trials": 3})
    with pytest.raises(ValueError, match="already exists"):
        create_study(postgres_url, name)
    again = create_study(postgres_url, name, exist_ok=True)
    assert again.user_attrs["chainrule.n_trials"] == 3
