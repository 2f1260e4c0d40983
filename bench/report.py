"""Print the ratio table of a pytest-benchmark JSON file.

    python bench/report.py results.json [--markdown]

For each group: the median time of every implementation and the ratio
numpy / neurocore (> 1 means neurocore is faster).  Extra columns come from
``benchmark.extra_info`` ("gflops" when a case reports its FLOP count as
extra_info["flops"]).
"""
import json
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    groups = defaultdict(dict)
    flops = {}
    for bench in data["benchmarks"]:
        impl = bench["params"].get("impl") if bench.get("params") else None
        impl = impl or bench["extra_info"].get("impl") or bench["name"]
        groups[bench["group"]][impl] = bench["stats"]["median"]
        if "flops" in bench["extra_info"]:
            flops[bench["group"]] = bench["extra_info"]["flops"]
    return groups, flops


def table(groups, flops):
    rows = [("case", "numpy median", "neurocore median", "ratio", "neurocore GFLOPS")]
    for group, times in groups.items():
        np_t, nc_t = times.get("numpy"), times.get("neurocore")
        ratio = f"{np_t / nc_t:.2f}x" if np_t and nc_t else "-"
        gflops = f"{flops[group] / nc_t / 1e9:.0f}" if group in flops and nc_t else ""
        rows.append((group, _fmt(np_t), _fmt(nc_t), ratio, gflops))
    return rows


def _fmt(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def main(argv):
    rows = table(*load(argv[1]))
    if "--markdown" in argv:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main(sys.argv)
