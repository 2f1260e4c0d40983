"""python -m neurocore bench: run the benchmark cases and print one table."""
import argparse
import contextlib
import json
import sys

import neurocore as nc
from neurocore.bench import profile, progress, report, runner, schema
from neurocore.bench._case import select_cases


def parser():
    p = argparse.ArgumentParser(
        prog="python -m neurocore bench",
        description="Time neurocore against the NumPy program a user would write for the same job "
                    "(and PyTorch / ONNX Runtime when installed): medians of alternated rounds in one process.")
    p.add_argument("--quick", action="store_true", help="a subset with short rounds (under a minute on 2 cores)")
    p.add_argument("--filter", metavar="PATTERN",
                   help="only cases whose 'group/name' contains PATTERN (or matches it as a glob: 'vit/*')")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("--json", metavar="FILE", help="write the results (schema: neurocore/bench/schema.json)")
    p.add_argument("--compare", metavar="OLD.json", help="print a before/after table against an earlier --json")
    p.add_argument("--plot", metavar="FILE.png", help="bar chart of the ratios against NumPy (needs matplotlib)")
    p.add_argument("--markdown", metavar="FILE", help="write the results page (bench/README.md) as markdown")
    p.add_argument("--profile", action="store_true",
                   help="per-op profile of ViT-Tiny inference and training (time per kernel, share, GFLOPS)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="threads for neurocore, the peers and NumPy's BLAS (via threadpoolctl); default: all")
    p.add_argument("--label", help="a note on the machine's state, stored with the results ('shared, busy')")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    return p


def _blas_threads(n):
    """NumPy's BLAS limited to n threads (with threadpoolctl; a no-op
    without it or without n)."""
    if n is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("note: --threads limits NumPy's BLAS only when threadpoolctl is installed", file=sys.stderr)
        else:
            return threadpool_limits(n, user_api="blas")
    return contextlib.nullcontext()


def main(argv=None):
    args = parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            print(f"--threads must be >= 1, got {args.threads}", file=sys.stderr)
            return 2
        nc.set_num_threads(args.threads)
    selected = select_cases(args.filter, quick=args.quick)
    if args.list:
        for case in selected:
            print(f"{case.group}/{case.name}" + ("  [quick]" if case.quick else ""))
        return 0
    old = None
    if args.compare:
        with open(args.compare) as f:
            old = json.load(f)
        schema.validate(old)
    if not selected and not args.profile:
        print(f"no benchmark case matches {args.filter!r} (see --list)", file=sys.stderr)
        return 2

    bar = progress.bar(len(selected), "benchmarks", enabled=False if args.no_progress else None)
    with _blas_threads(args.threads), bar:
        doc = runner.run(selected, quick=args.quick, label=args.label, progress=bar)
        if args.profile:
            doc["profile"] = profile.vit_profile(doc["fma_peak_gflops"])
    schema.validate(doc)

    print(report.terminal_report(doc))
    if args.profile:
        print(report.profile_text(doc["profile"]))
    if old is not None:
        print()
        print(report.compare_report(old, doc))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"results written to {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown_page(doc))
        print(f"results page written to {args.markdown}")
    if args.plot:
        if report.plot(doc, args.plot):
            print(f"plot written to {args.plot}")
        else:
            print("--plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
    # a case whose own implementations fail is a bug (an optional peer's failure is only reported)
    broken = [row["name"] for row in doc["cases"] if set(row.get("errors", {})) & {"setup", "neurocore", "numpy"}]
    if broken:
        print(f"failed cases: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0
