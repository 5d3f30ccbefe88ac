"""`chainrule report RUN [RUN ...]`: one self-contained HTML page for runs made by `chainrule train`
(the builder is chainrule.viz.report; this command loads each run's data by the name in its config)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import CLIError
from . import common, runfolder

HELP = "write an HTML report (curves, verdict, per-class accuracy, filters, mistakes) of one or more runs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders made by `chainrule train`")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--data-dir", default=None, help="where the datasets are, if not where the runs found them")
    p.add_argument("--max-eval", type=int, default=2000, metavar="N",
                   help="evaluate at most N test examples per run, a seeded subsample (default 2000; 0: all)")
    p.add_argument("--no-data", action="store_true",
                   help="do not load the datasets (no per-class accuracy, confusion matrix or mistakes)")
    p.add_argument("--title", default=None, help="the page's title")


def run(args: argparse.Namespace) -> int:
    from ..viz.report import write_report

    if args.max_eval < 0:
        raise CLIError(f"--max-eval must be 0 (all) or positive, got {args.max_eval}")
    runs = [common.read_config(r)[0] for r in args.runs]
    runfolder.check_output(args.out)  # before the runs are evaluated; written atomically (write_report)
    cache: dict[tuple, object] = {}  # runs trained on the same data load it once
    datas = [None if args.no_data else _data_of(run, args.data_dir, cache) for run in runs]
    out = write_report(runs, args.out, data=datas, max_eval=args.max_eval or None, title=args.title)
    print(f"Report of {len(runs)} run{'s' * (len(runs) > 1)} written to {out}")
    return 0


def _data_of(run: Path, data_dir: str | None, cache: dict):
    """The splits the run was trained on (same name, folder and subsample), or None with a message."""
    a = common.read_config(run)[1].get("args", {})
    key = (a.get("data", "digits"), data_dir or a.get("data_dir"), a.get("subsample"))
    if key not in cache:
        try:
            cache[key] = common.load_data(*key)
        except (OSError, ValueError, CLIError) as e:
            print(f"chainrule report: {run}: data {key[0]!r} not loaded ({e}); its evaluation sections are "
                  "left out (try --data-dir)", file=sys.stderr)
            cache[key] = None
    return cache[key]
