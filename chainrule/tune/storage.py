"""Where a study lives: memory, a journal file, or a database server.

    None                                  -> in memory (one process only)
    "runs/lr-search/study.journal"        -> an Optuna journal file (any path that is not a URL):
                                             no server, safe for several processes on one machine
    "postgresql://user:pw@host:5432/db"   -> PostgreSQL through SQLAlchemy + psycopg 3 (rewritten
                                             to postgresql+psycopg://): many machines
    "sqlite:///study.db", "mysql+pymysql://..." -> any other SQLAlchemy URL, passed to Optuna

Create a shared study ONCE (`create_study`, or `chainrule tune --create-only`) before
starting workers: Optuna's first-time creation of a study (and of the database tables)
is not safe when several processes do it at the same moment.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, Iterator, Mapping

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

DEFAULT_JOURNAL = "study.journal"
ATTR = "chainrule."  # prefix of the study user attributes chainrule writes


@contextlib.contextmanager
def quiet_optuna(level: int = logging.WARNING) -> Iterator[None]:
    """Silence Optuna's per-study/per-trial INFO lines (chainrule prints its own progress)."""
    logger = logging.getLogger("optuna")
    old = logger.level
    logger.setLevel(max(level, old))
    try:
        yield
    finally:
        logger.setLevel(old)


def is_url(spec: str) -> bool:
    return "://" in spec


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// use psycopg 3 (the driver chainrule's `tune` extra installs)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def get_storage(storage: Any, prepared: bool = False) -> BaseStorage:
    """An Optuna storage from None, a journal-file path, a database URL or a storage object.

    prepared=True: the database tables exist and were checked already (by the process that
    created the study), so skip Optuna's table creation and schema check (about 1 s per worker)."""
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if isinstance(storage, os.PathLike):
        storage = os.fspath(storage)
    if not isinstance(storage, str) or not storage:
        raise ValueError(f"storage: expected None, a journal file path or a database URL, got {storage!r}")
    if is_url(storage):
        # pool_pre_ping: a worker that idled (e.g. waiting for a round to finish) reconnects cleanly.
        return RDBStorage(normalize_url(storage), engine_kwargs={"pool_pre_ping": True},
                          skip_compatibility_check=prepared, skip_table_creation=prepared)
    parent = os.path.dirname(os.path.abspath(storage))
    os.makedirs(parent, exist_ok=True)
    return JournalStorage(JournalFileBackend(storage))


def shareable(storage: Any) -> bool:
    """Can other processes open this storage by its description (a path or URL)?"""
    return isinstance(storage, (str, os.PathLike)) and bool(os.fspath(storage))


def describe(storage: Any) -> str:
    """A printable description, with any password in a URL hidden."""
    if storage is None or isinstance(storage, InMemoryStorage):
        return "in memory"
    if isinstance(storage, BaseStorage):
        return type(storage).__name__
    s = os.fspath(storage)
    if is_url(s):
        scheme, _, rest = s.partition("://")
        if "@" in rest:
            cred, _, host = rest.rpartition("@")
            user = cred.split(":", 1)[0]
            return f"{scheme}://{user}{':***' if ':' in cred else ''}@{host}"
        return s
    return f"journal file {s}"


def create_study(storage: Any, study_name: str, direction: str = "maximize",
                 attrs: Mapping[str, Any] | None = None, exist_ok: bool = False) -> optuna.Study:
    """Create a study once (before any worker starts) and store chainrule's settings in it
    (`attrs`, e.g. the search space, the trial budget, the seed) as user attributes, so that
    workers on other machines can read them back.

    exist_ok=False raises ValueError if the study exists; True loads it (checking the direction).
    """
    _check_direction(direction)
    st = get_storage(storage)
    try:
        with quiet_optuna():
            study = optuna.create_study(storage=st, study_name=study_name, direction=direction)
    except optuna.exceptions.DuplicatedStudyError:
        if not exist_ok:
            raise ValueError(f"study {study_name!r} already exists in {describe(storage)}") from None
        study = load_study(st, study_name)
        if study.direction.name.lower() != direction:
            raise ValueError(f"study {study_name!r} exists with direction "
                             f"{study.direction.name.lower()}, not {direction}") from None
        return study
    for key, value in (attrs or {}).items():
        study.set_user_attr(ATTR + key, value)
    return study


def create_or_load(storage: Any, study_name: str, direction: str = "maximize",
                   attrs: Mapping[str, Any] | None = None, retries: int = 5) -> optuna.Study:
    """Load the study, creating it if missing; retry when another process creates it at the
    same moment (the creation then fails here with an integrity error, and loading succeeds)."""
    last: Exception | None = None
    for attempt in range(retries):
        try:
            return create_study(storage, study_name, direction, attrs, exist_ok=True)
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - the concurrent-creation failure is driver-specific
            last = e
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not create or load study {study_name!r} in {describe(storage)}: {last}")


def load_study(storage: Any, study_name: str, sampler: Any = None, pruner: Any = None) -> optuna.Study:
    st = get_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=st, sampler=sampler, pruner=pruner)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(st)] if not isinstance(st, InMemoryStorage) else []
        raise ValueError(f"no study {study_name!r} in {describe(storage)}"
                         + (f" (studies there: {', '.join(names)})" if names else "")) from None


def study_attrs(study: optuna.Study) -> dict[str, Any]:
    """chainrule's settings stored in a study (without the prefix)."""
    return {k[len(ATTR):]: v for k, v in study.user_attrs.items() if k.startswith(ATTR)}


def _check_direction(direction: str) -> None:
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction: expected 'maximize' or 'minimize', got {direction!r}")


def fail_running(storage: Any, study_name: str, numbers: Any = None) -> list[int]:
    """Mark RUNNING trials (all, or those numbered in `numbers`) as FAIL: for trials left behind
    by a worker that died. They then stop counting against the budget, so the next worker runs
    replacements. Only call this when no live worker is running those trials."""
    from optuna.trial import TrialState

    study = load_study(storage, study_name)
    wanted = None if numbers is None else {int(n) for n in numbers}
    done = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if wanted is None or t.number in wanted:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            done.append(t.number)
    return done
