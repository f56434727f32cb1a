"""Command line: ``python -m mmar {run,report,publish,extract,bench,expected,lock,tolerances} ...``."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from mmar.paths import PROJECT_ROOT


def benchmark_names() -> list[str]:
    """The benchmarks ``python -m mmar bench NAME`` runs: ``benchmarks/bench_<NAME>.py``."""
    return sorted(p.stem.removeprefix("bench_") for p in (PROJECT_ROOT / "benchmarks").glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    from mmar.runner import PATH_SETTINGS, NotebookFailed, run_profile

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m mmar", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the notebooks of a profile with papermill, then build the report")
    run.add_argument("--profile", default="default", help="profile name from mmar/profiles.yaml")
    run.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 01,02 (then no report is built)")
    run.add_argument("--out", help="run folder (default runs/<profile>)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="[NOTEBOOK.]KEY=VALUE",
                     help="override a setting (repeatable); without NOTEBOOK. it goes to every selected notebook "
                          "that has the setting (e.g. grid_runtime: 06 and 07); a relative path "
                          f"({', '.join(PATH_SETTINGS)}) is taken from the current folder")
    run.add_argument("--no-report", action="store_true", help="do not build the report at the end")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in the folder (its run id, outputs and --set values) instead of starting "
                          "a new one: the --only notebooks (no report), or else those not finished yet, then the report")

    report = sub.add_parser("report", help="build the report (a Jupyter Book, <run_dir>/book/index.html) of a finished run")
    report.add_argument("run_dir", help="run folder, e.g. runs/default")
    report.add_argument("--with", dest="extra_runs", action="append", default=[], metavar="RUN_DIR",
                        help="another run whose results are shown beside, e.g. runs/activitynet (repeatable)")

    publish = sub.add_parser("publish", help="copy a finished default run's executed notebooks and book.pdf to "
                                             "report/default-run/, with a card naming the run (make publish)")
    publish.add_argument("run_dir", nargs="?", default="runs/default", help="run folder (default runs/default)")

    sub.add_parser("extract", add_help=False, help="extract I3D features of a video folder (see --help)")
    sub.add_parser("bench", add_help=False, help=f"run a benchmark of benchmarks/: {', '.join(benchmark_names())}")
    sub.add_parser("lock", add_help=False, help="compare the installed packages with requirements.lock (--check: exit 1 if they differ)")
    sub.add_parser("tolerances", add_help=False,
                   help="print the checks' measured tolerances (--measure: measure them again under perturbations)")
    sub.add_parser("expected", add_help=False,
                   help="compare the smoke run's key metrics with tests/expected (--update: rewrite them, print the diff)")

    if argv and argv[0] == "extract":
        from mmar.extract import main as extract_main

        return int(extract_main(argv[1:]) or 0)
    if argv and argv[0] == "expected":
        from mmar.regression import main as expected_main

        try:
            return expected_main(argv[1:])
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if argv and argv[0] == "lock":
        from mmar.lock import main as lock_main

        return lock_main(argv[1:])
    if argv and argv[0] == "tolerances":
        from mmar.tolerances import main as tolerances_main

        return tolerances_main(argv[1:])
    if argv and argv[0] == "bench":
        usage = (f"usage: python -m mmar bench NAME [...]; NAME one of {benchmark_names()} "
                 "(`python -m mmar bench NAME --help`: what NAME measures and its options)")
        if len(argv) < 2 or argv[1] in ("-h", "--help"):
            print(usage, file=sys.stdout if len(argv) >= 2 else sys.stderr)
            return 0 if len(argv) >= 2 else 2
        script = PROJECT_ROOT / "benchmarks" / f"bench_{argv[1]}.py"
        if not script.is_file():
            print(f"no benchmark {argv[1]!r} ({script} not found)", file=sys.stderr)
            return 2
        sys.argv = [str(script), *argv[2:]]
        runpy.run_path(str(script), run_name="__main__")
        return 0

    args = parser.parse_args(argv)
    from mmar.profiles import ProfileError

    try:
        if args.command == "run":
            run_profile(args.profile, only=args.only, out=args.out, overrides=args.overrides,
                        build_report=not args.no_report, resume=args.resume)
        elif args.command == "report":
            from mmar.report import build_book

            print(build_book(Path(args.run_dir), extra_runs=[Path(p) for p in args.extra_runs]))
        elif args.command == "publish":
            from mmar.report.publish import PublishError, publish

            try:
                publish(Path(args.run_dir))
            except PublishError as error:  # imported here: the report's modules take a second to import
                print(f"error: {error}", file=sys.stderr)
                return 1
    except (ProfileError, NotebookFailed, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the runner has said how to continue
        print("interrupted", file=sys.stderr)
        return 130
    return 0
