"""Tables of a result document: the terminal table, the markdown results
page, the before/after comparison and the bar chart of ratios."""
PEERS = ("numpy", "torch", "onnxruntime")
SHORT = {"numpy": "NumPy", "torch": "PyTorch", "onnxruntime": "ORT"}


def fmt_time(t):
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def _ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def _goal(row):
    if row.get("goal") is None:
        return ""
    text = f">= {row['goal']:g}x {SHORT.get(row['goal_vs'], row['goal_vs'])}"
    met = row.get("goal_met")
    return text + ("" if met is None else (" met" if met else " NOT met"))


def _peers_present(doc):
    return [p for p in PEERS if any(p in row.get("times", {}) for row in doc["cases"])]


def header_lines(doc):
    m, v = doc["machine"], doc["versions"]
    peers = ", ".join(f"{name} {v[name]}" for name in ("torch", "onnxruntime") if v.get(name)) or "none installed"
    lines = [f"machine: {m['cpu']} ({m['arch']}, {m['cores']} cores), {m['os']}, Python {m['python']}"
             + (f" -- {m['label']}" if m.get("label") else ""),
             f"isa: {doc['isa']} (supported: {', '.join(doc['supported_isas'])}); threads: {doc['threads']}",
             f"versions: neurocore {v['neurocore']}, numpy {v['numpy']}"
             + (f" ({v['numpy_blas']})" if v.get("numpy_blas") else "") + f"; peers: {peers}",
             f"float32 FMA peak ({doc['threads']} threads, {doc['isa']}): {doc['fma_peak_gflops']:.1f} GFLOPS",
             f"date: {doc['created']}" + ("  (--quick)" if doc.get("quick") else "")]
    if doc.get("environment"):
        lines.append("environment: " + " ".join(f"{k}={v}" for k, v in doc["environment"].items()))
    return lines


def rows(doc):
    """Header and one row per case: the columns of both tables."""
    peers = _peers_present(doc)
    head = ["case", "neurocore"] + [SHORT[p] for p in peers] + [f"x{SHORT[p]}" for p in peers] \
        + ["GFLOPS", "% peak", "isa", "goal"]
    out = [head]
    for row in doc["cases"]:
        times = row.get("times", {})
        cells = [row["name"], fmt_time(times.get("neurocore", {}).get("median"))]
        cells += [fmt_time(times.get(p, {}).get("median")) if p in times else "-" for p in peers]
        cells += [_ratio(row.get("ratios", {}).get(p)) for p in peers]
        cells += ["" if row.get("gflops") is None else f"{row['gflops']:.1f}",
                  "" if row.get("peak_percent") is None else f"{row['peak_percent']:.0f}%",
                  row.get("isa", ""), _goal(row)]
        if row.get("errors"):
            cells[-1] = (cells[-1] + " " if cells[-1] else "") + "(error below)"
        if row.get("skipped"):
            cells[-1] = f"skipped: {row['skipped']}"
        out.append(cells)
    return out


def text_table(table):
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for k, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     .rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(table):
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in table[1:]]
    return "\n".join(lines)


def error_lines(doc):
    return [f"error in {row['name']} [{impl}]: {message}" for row in doc["cases"]
            for impl, message in row.get("errors", {}).items()]


def terminal_report(doc):
    return "\n".join(header_lines(doc) + [""] + [text_table(rows(doc))] + error_lines(doc)) + "\n" + _ratio_note(doc)


def _ratio_note(doc):
    return ("ratio xPEER = PEER's median time / neurocore's (> 1: neurocore is faster); "
            "medians of alternated rounds in one process.\n")


def markdown_page(doc, source=None):
    """bench/README.md: what ran where, one table, and how to regenerate."""
    lines = ["# Benchmark results", "",
             "Generated from the JSON that `python -m neurocore bench --json FILE` writes"
             + (f" ({source})" if source else "") + "; regenerate with", "",
             "    python -m neurocore bench --profile --json bench/results.json",
             "    python bench/report.py bench/results.json > bench/README.md", "",
             "Each row: the median time of neurocore and of the NumPy program a user would write for the same job "
             "(and PyTorch / ONNX Runtime when installed), from alternated rounds in one process; "
             "ratio = peer time / neurocore time (> 1: neurocore is faster). GFLOPS and % of the measured "
             "float32 FMA peak where the case counts its FLOPs. Goals are those of the performance issues: 'met' or 'NOT met' "
             "where the peer they name ran, blank where it did not (PyTorch and ONNX Runtime are optional). "
             "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set, change NumPy's speed: run with them unset "
             "(env -u ...) unless that is the point.",
             "", "```"] + header_lines(doc) + ["```", "", markdown_table(rows(doc)), ""]
    if error_lines(doc):
        lines += [f"- {line}" for line in error_lines(doc)] + [""]
    profile = doc.get("profile")
    if profile:
        lines += ["## Per-op profile", "", "```", profile_text(profile), "```", ""]
    lines += ["The bench/ folder's pytest-benchmark suite runs the same cases "
              "(`python -m pytest bench -q`); history of these numbers is in git.", ""]
    return "\n".join(lines)


def compare_table(old, new):
    """Before/after: each case's neurocore time and ratio vs NumPy in both runs."""
    before = {row["name"]: row for row in old["cases"]}
    table = [["case", "before", "after", "after/before", "xNumPy before", "xNumPy after"]]
    for row in new["cases"]:
        prev = before.get(row["name"])
        t_new = row.get("times", {}).get("neurocore", {}).get("median")
        t_old = prev.get("times", {}).get("neurocore", {}).get("median") if prev else None
        change = f"{t_new / t_old:.2f}" if t_new and t_old else "-"
        table.append([row["name"], fmt_time(t_old), fmt_time(t_new), change,
                      _ratio(prev.get("ratio") if prev else None), _ratio(row.get("ratio"))])
    return table


def compare_report(old, new):
    head = [f"before: {old['created']} {old['machine']['cpu']} isa {old['isa']} threads {old['threads']}",
            f"after:  {new['created']} {new['machine']['cpu']} isa {new['isa']} threads {new['threads']}"]
    return "\n".join(head) + "\n\n" + text_table(compare_table(old, new)) + \
        "\nafter/before < 1: neurocore got faster.\n"


def plot_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot(doc, path):
    """A horizontal bar chart of each case's ratio against NumPy (log
    scale); False when matplotlib is absent."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cases = [(row["name"], row["ratio"]) for row in doc["cases"] if row.get("ratio")]
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(cases) + 1.6))
    names = [c for c, _ in cases]
    values = [v for _, v in cases]
    ax.barh(names, values, color=["tab:blue" if v >= 1 else "tab:red" for v in values])
    ax.axvline(1.0, color="black", linewidth=0.8)
    if values and max(values) / max(min(values), 1e-9) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("speed-up over NumPy (NumPy median / neurocore median)")
    ax.set_title(f"neurocore {doc['versions']['neurocore']}, {doc['isa']}, {doc['threads']} threads, "
                 f"{doc['machine']['cpu']}", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def profile_text(profile):
    """The per-op profile (see profile.py) as text tables."""
    out = [f"FMA peak {profile['fma_peak_gflops']:.1f} GFLOPS; times per call of each phase, "
           "exclusive (a kernel called inside another counts once)"]
    for phase in profile["phases"]:
        out.append("")
        out.append(f"{phase['name']}: {fmt_time(phase['wall'])} per call "
                   f"({phase['gflops']:.1f} GFLOPS, {phase['peak_percent']:.0f}% of peak)")
        table = [["op", "calls", "time", "share", "GFLOPS"]]
        for op in phase["ops"]:
            table.append([op["op"], str(op["calls"]), fmt_time(op["time"]), f"{100 * op['share']:.1f}%",
                          "" if op.get("gflops") is None else f"{op['gflops']:.1f}"])
        out.append(text_table(table))
        if phase.get("gemms"):
            table = [["GEMM (M x K x N)", "calls", "time", "share", "GFLOPS", "% peak"]]
            for g in phase["gemms"]:
                table.append([g["shape"], str(g["calls"]), fmt_time(g["time"]), f"{100 * g['share']:.1f}%",
                              f"{g['gflops']:.1f}", f"{g['peak_percent']:.0f}%"])
            out.append(text_table(table))
    return "\n".join(out)
