"""Reports from benchmark JSON files.

    python bench/report.py results.json > bench/README.md
        results.json from `python -m neurocore bench --json`: the results page
    python bench/report.py pytest-benchmark.json [--markdown]
        a --benchmark-json file of this folder's pytest suite: for each group
        (case), the median of every implementation and numpy / neurocore
"""
import json
import sys
from collections import defaultdict

from neurocore.bench import report, schema


def pytest_benchmark_table(data):
    groups, info = defaultdict(dict), {}
    for bench in data["benchmarks"]:
        impl = bench["extra_info"].get("impl") or (bench.get("params") or {}).get("impl") or bench["name"]
        groups[bench["group"]][impl] = bench["stats"]["median"]
        info[bench["group"]] = bench["extra_info"]
    impls = [i for i in ("neurocore", "numpy", "torch", "onnxruntime") if any(i in t for t in groups.values())]
    table = [["case"] + impls + ["numpy / neurocore", "GFLOPS"]]
    for group, times in groups.items():
        nc_time, np_time = times.get("neurocore"), times.get("numpy")
        flops = info[group].get("flops")
        table.append([group] + [report.fmt_time(times.get(i)) for i in impls]
                     + [f"{np_time / nc_time:.2f}x" if nc_time and np_time else "-",
                        f"{flops / nc_time / 1e9:.1f}" if flops and nc_time else ""])
    return table


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    with open(argv[1]) as f:
        data = json.load(f)
    if "benchmarks" in data:
        table = pytest_benchmark_table(data)
        print(report.markdown_table(table) if "--markdown" in argv else report.text_table(table))
        return 0
    schema.validate(data)
    print(report.markdown_page(data), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
