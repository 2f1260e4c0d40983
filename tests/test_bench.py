"""The benchmark shipped in the package (python -m neurocore bench): the
CLI, its JSON and schema, the timing loop's alternation, the FMA peak
kernel, the per-op profiler, the NumPy baselines' agreement with neurocore,
and the demos' quiet progress output.  No test asserts a speed."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import neurocore as nc
from neurocore import _kernels
from neurocore import functional as F
from neurocore.bench import numpy_vit, peers, profile, register, report, runner, schema, select_cases
from neurocore.bench import cases as bench_cases
from neurocore.bench._case import _REGISTRY

TINY_FILTER = "matvec f32 256x256"     # one cheap case for the CLI runs


def _bench(*args, cwd, timeout=300):
    env = dict(os.environ, NEUROCORE_CACHE=str(cwd))
    return subprocess.run([sys.executable, "-m", "neurocore", "bench", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def quick_json(tmp_path_factory):
    """One CLI run: --quick on two cheap cases, with --json."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "out.json"
    result = _bench("--quick", "--filter", "*256x256*", "--json", str(out), cwd=tmp)
    assert result.returncode == 0, result.stderr
    return tmp, out, result


def test_cli_quick_json_validates_against_the_schema(quick_json):
    _, out, result = quick_json
    doc = json.loads(out.read_text())
    assert schema.errors(doc) == []
    assert doc["schema"] == "neurocore-bench/1" and doc["quick"] is True
    assert doc["isa"] == _kernels.get_isa() and doc["threads"] == nc.get_num_threads()
    assert doc["fma_peak_gflops"] > 0
    names = [row["name"] for row in doc["cases"]]
    assert names == [c.name for c in select_cases("*256x256*", quick=True)] and TINY_FILTER in names
    for row in doc["cases"]:
        t = row["times"]
        assert set(t) >= {"neurocore", "numpy"}
        assert row["ratio"] == pytest.approx(t["numpy"]["median"] / t["neurocore"]["median"])
        assert t["neurocore"]["median"] == pytest.approx(float(np.median(t["neurocore"]["samples"])))
        assert len(t["neurocore"]["samples"]) >= 3
        assert row["isa"] == doc["isa"]
    matvec = doc["cases"][names.index(TINY_FILTER)]
    assert matvec["gflops"] == pytest.approx(2 * 256 * 256 / matvec["times"]["neurocore"]["median"] / 1e9)
    assert matvec["peak_percent"] == pytest.approx(100 * matvec["gflops"] / doc["fma_peak_gflops"])
    assert matvec["goal"] == 1.0 and matvec["goal_met"] == (matvec["ratio"] >= 1.0)
    # the printed table: machine, ISA, threads, versions above one row per case
    text = result.stdout
    for needle in ("machine:", f"isa: {doc['isa']}", f"threads: {doc['threads']}", "numpy " + np.__version__,
                   "FMA peak", TINY_FILTER):
        assert needle in text
    assert "\r" not in result.stdout + result.stderr          # no progress frames into a pipe


def test_cli_json_also_satisfies_jsonschema_when_installed(quick_json):
    jsonschema = pytest.importorskip("jsonschema")
    _, out, _ = quick_json
    jsonschema.validate(json.loads(out.read_text()), schema.load_schema())


def test_cli_compare_and_plot(quick_json, tmp_path):
    _, old, _ = quick_json
    png = tmp_path / "ratios.png"
    result = _bench("--quick", "--filter", TINY_FILTER, "--compare", str(old), "--plot", str(png), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(TINY_FILTER)]
    assert len(lines) == 2                                      # the results table and the comparison
    assert "after/before" in result.stdout
    before = json.loads(old.read_text())
    row = report.compare_table(before, before)[1]
    assert row[0] == before["cases"][0]["name"] and row[3] == "1.00"
    if report.plot_available():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not png.exists() and "--plot needs matplotlib" in result.stderr


def test_markdown_page_and_bench_report_script(quick_json):
    _, out, _ = quick_json
    doc = json.loads(out.read_text())
    page = report.markdown_page(doc)
    assert page.startswith("# Benchmark results")
    assert f"isa: {doc['isa']}" in page and doc["created"] in page
    table = [line for line in page.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(doc["cases"]) and "xNumPy" in table[0] and "goal" in table[0]


def test_cli_rejects_a_filter_that_matches_nothing(tmp_path):
    result = _bench("--filter", "no such case at all", cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "no benchmark case matches" in result.stderr


def test_schema_validator_reports_violations():
    doc = {"schema": "neurocore-bench/1", "created": "x", "quick": "yes", "machine": {}, "isa": "sse9",
           "supported_isas": [], "threads": 0, "versions": {"neurocore": "0", "numpy": "2", "torch": 3},
           "fma_peak_gflops": 1.0, "cases": [{"name": "c"}]}
    problems = "\n".join(schema.errors(doc))
    for needle in ("$.quick: expected boolean", "$.machine: missing required key 'cpu'", "$.isa: 'sse9'",
                   "$.threads: 0 is below the minimum 1", "$.versions.torch: expected string or null",
                   "$.cases[0]: missing required key 'times'"):
        assert needle in problems
    with pytest.raises(ValueError, match="do not match schema.json"):
        schema.validate(doc)


def test_every_case_is_well_formed():
    cases = select_cases()
    assert len({c.name for c in cases}) == len(cases) > 80
    groups = {c.group for c in cases}
    assert groups == {"gemm", "elementwise", "activation", "softmax", "attention", "layernorm", "loss", "optim",
                      "mlp", "vit", "second_order", "embed"}
    bench_dir = os.path.join(os.path.dirname(__file__), os.pardir, "bench")
    if os.path.isdir(bench_dir):                 # the checkout's pytest-benchmark suite covers every group
        assert {f"bench_{g}.py" for g in groups} <= set(os.listdir(bench_dir))
    for c in cases:
        assert c.goal is None or c.goal > 0
        assert c.flops is None or c.flops > 0
    quick = select_cases(quick=True)
    assert 10 <= len(quick) <= 25 and {c.group for c in quick} == groups


def test_select_cases_by_substring_and_glob():
    assert [c.name for c in select_cases("MATVEC F32 256")] == ["matvec f32 256x256"]
    assert {c.group for c in select_cases("vit/*")} == {"vit"}
    assert all("B8" in c.name for c in select_cases("*B8*"))


def test_register_refuses_a_duplicate_and_an_unknown_peer():
    with pytest.raises(ValueError, match="registered twice"):
        register("matvec f32 256x256", group="gemm")(lambda rng: {})
    with pytest.raises(ValueError, match="goal_vs"):
        register("x", group="gemm", goal_vs="jax")


def test_a_registered_case_runs_and_a_broken_one_is_reported():
    calls = []

    @register("test: counting case", group="test")
    def _counting(rng):
        return {"neurocore": lambda: calls.append("neurocore"), "numpy": lambda: calls.append("numpy"),
                "torch": lambda: 1 / 0}

    try:
        row = runner.run_case(_REGISTRY["test: counting case"], runner.Settings(quick=True), "generic", 1.0)
    finally:
        del _REGISTRY["test: counting case"]
    assert set(row["times"]) == {"neurocore", "numpy"}
    assert row["errors"] == {"torch": "ZeroDivisionError: division by zero"}
    assert row["ratio"] == pytest.approx(row["times"]["numpy"]["median"] / row["times"]["neurocore"]["median"])
    assert schema.errors(row, schema.load_schema()["properties"]["cases"]["items"]) == []


def test_measure_alternates_the_implementations_every_round():
    order = []
    settings = runner.Settings(quick=True)
    settings.round_time = 0.0               # one call per round
    settings.min_rounds = settings.max_rounds = 4
    settings.budget = 0.0
    result = runner.measure({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, settings)
    # two warm-up calls each, then rounds a b, b a, a b, b a
    assert order == ["a", "a", "b", "b"] + ["a", "b", "b", "a"] * 2
    assert [len(result[k]["samples"]) for k in "ab"] == [4, 4] and result["a"]["number"] == 1


@pytest.mark.parametrize("dtype, lanes", [(np.float32, {"generic": 1, "avx2": 8, "avx512": 16}),
                                          (np.float64, {"generic": 1, "avx2": 4, "avx512": 8})])
def test_fma_peak_kernel_counts_its_flops_and_is_deterministic(isa, threads, dtype, lanes):
    flops, sums = _kernels._fma_peak(3, 1000, dtype)
    assert flops == 2 * lanes[isa] * 12 * 1000 * 3
    assert sums.shape == (3,) and sums.dtype == dtype and np.all(np.isfinite(sums))
    # every chain converges to 1e-7 / (1 - 0.9999999) from its start c + k; the loop result is
    # the same whatever the thread count
    threads(1)
    _, one = _kernels._fma_peak(3, 1000, dtype)
    np.testing.assert_array_equal(one, sums)
    assert sums[2] > sums[1] > sums[0] > 0


def test_fma_peak_rejects_bad_arguments():
    with pytest.raises(ValueError, match="count must be >= 1"):
        _kernels._fma_peak(0, 10)
    with pytest.raises(TypeError, match="iters must be an int"):
        _kernels._fma_peak(1, 1.5)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        _kernels._fma_peak(1, 10, np.int32)


def test_fma_peak_measurement_is_positive():
    assert runner.fma_peak(threads=1, seconds=0.005, repeats=1) > 0


def test_profiler_times_kernels_and_restores_them():
    original = _kernels.linear_forward
    nc.manual_seed(0)
    model = nc.nn.VisionTransformer(image_size=16, patch_size=8, dim=24, depth=2, num_heads=3, num_classes=5)
    x = nc.tensor(np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32))
    labels = np.array([0, 3])

    def step():
        model.zero_grad()
        F.cross_entropy(model(x), labels).backward()

    phase = profile.profile_phase("tiny step", step, flops=1e6, peak=100.0, calls=2)
    assert _kernels.linear_forward is original and nc.kernels.linear_forward is original
    ops = {op["op"]: op for op in phase["ops"]}
    for name in ("linear_forward", "linear_backward", "layer_norm_forward", "layer_norm_backward"):
        assert ops[name]["calls"] > 0 and ops[name]["time"] > 0, name
    assert ops["linear_forward"]["gflops"] > 0
    assert sum(op["share"] for op in phase["ops"]) == pytest.approx(1.0, abs=0.05)
    assert phase["gemms"] and all(g["gflops"] > 0 for g in phase["gemms"])
    assert any(g["shape"] == "10 x 24 x 72" for g in phase["gemms"])   # qkv: 2 images x 5 tokens, 24 -> 72


# ---- the baselines compute what neurocore computes ----------------------------

def test_numpy_vit_agrees_with_neurocore():
    """The ViT baseline computes the same function and gradients (small ViT, float64)."""
    nc.manual_seed(1)
    model = nc.nn.VisionTransformer(image_size=8, patch_size=2, in_channels=3, num_classes=5, dim=12,
                                    depth=2, num_heads=3, dtype=np.float64)
    ref = numpy_vit.NumpyViT(model.state_dict(), 3)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    labels = np.array([0, 1, 2, 3])
    logits = model(nc.tensor(x))
    cache = {}
    np.testing.assert_allclose(logits.numpy(), ref.forward(x, cache), rtol=1e-6, atol=1e-6)
    F.cross_entropy(logits, labels).backward()
    grads = ref.backward(numpy_vit.cross_entropy(ref.forward(x, cache), labels)[1], cache)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_second_order_baselines_agree_with_neurocore():
    from neurocore.autograd import functional as AF

    x, target, params, u = bench_cases._second_order_problem(np.random.default_rng(0))
    x64, p64, u64 = x.astype(np.float64), [p.astype(np.float64) for p in params], [v.astype(np.float64) for v in u]
    f = bench_cases.second_order_loss(x64, target)
    inputs = tuple(nc.tensor(p) for p in p64)
    _, grads = AF.vjp(f, inputs)
    for a, b in zip(grads, bench_cases.numpy_gradient(x64, target, *p64)):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-9, atol=1e-12)
    _, hv = AF.hvp(f, inputs, tuple(nc.tensor(v) for v in u64))
    for a, b in zip(hv, bench_cases.numpy_hvp(x64, target, *p64, *u64)):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-8, atol=1e-10)


def test_mlp_baseline_matches_neurocore_step():
    """The NumPy MLP step's first loss is the cross-entropy of the same network."""
    rng = np.random.default_rng(0)
    sizes = [6, 5, 3]
    x, y = rng.standard_normal((4, 6)).astype(np.float32), np.array([0, 1, 2, 1])
    step = bench_cases._numpy_mlp_step(sizes, x, y)
    wrng = np.random.default_rng(0)
    Ws = [(wrng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32) for i, o in zip(sizes[:-1], sizes[1:])]
    model = nc.nn.MLP(sizes)
    for layer, W in zip([m for m in model.modules() if isinstance(m, nc.nn.Linear)], Ws):
        layer.weight.data[...] = W
        layer.bias.data[...] = 0
    expected = F.cross_entropy(model(nc.tensor(x)), y).item()
    assert step() == pytest.approx(expected, rel=1e-5)


def test_onnx_vit_export_agrees_with_neurocore(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("NEUROCORE_CACHE", str(tmp_path))
    nc.manual_seed(0)
    model = nc.nn.VisionTransformer(image_size=32, patch_size=8, dim=48, depth=2, num_heads=3, num_classes=7)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with nc.no_grad():
        expected = model(nc.tensor(x)).numpy()
    path = peers.onnx_vit(model.state_dict(), 3, 2, 32)
    assert os.path.dirname(path) == str(tmp_path)
    stamp = os.stat(path).st_mtime_ns
    assert peers.onnx_vit(model.state_dict(), 3, 2, 32) == path and os.stat(path).st_mtime_ns == stamp  # cached
    got = peers.onnx_session(path).run(None, {"images": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# ---- quiet progress output -------------------------------------------------------

def test_demo_into_a_pipe_prints_one_line_per_epoch_and_no_carriage_return(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    result = subprocess.run([sys.executable, "-m", "neurocore", "demo", "--model", "mlp", "--epochs", "2"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "\r" not in output
    epochs = [line for line in result.stdout.splitlines() if re.match(r"epoch +\d+/2: train loss", line)]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert "test accuracy" in epochs[-1] and result.stderr == ""


def test_progress_bar_draws_nothing_off_a_terminal(capsys):
    from neurocore.bench import progress

    with progress.bar(3, "x") as bar:            # stderr is captured: not a terminal
        bar.update(1)
        bar.set_description("y")
    assert capsys.readouterr().err == ""
    with progress.bar(2, "x", enabled=False) as bar:
        bar.update(2)
    assert capsys.readouterr().err == ""


def test_cli_exits_nonzero_when_a_case_of_its_own_fails(capsys):
    from neurocore.bench import cli

    @register("test: broken neurocore side", group="test")
    def _broken(rng):
        return {"neurocore": lambda: 1 / 0, "numpy": lambda: None}

    try:
        status = cli.main(["--no-progress", "--filter", "test: broken neurocore side"])
    finally:
        del _REGISTRY["test: broken neurocore side"]
    captured = capsys.readouterr()
    assert status == 1
    assert "failed cases: test: broken neurocore side" in captured.err
    assert "ZeroDivisionError" in captured.out


def test_a_case_missing_an_optional_library_is_skipped_not_failed(capsys, tmp_path):
    from neurocore.bench import cli
    from neurocore.bench._case import SkipCase

    @register("test: needs an absent library", group="test")
    def _needs(rng):
        raise SkipCase("needs somelib")

    out = tmp_path / "skip.json"
    try:
        status = cli.main(["--no-progress", "--filter", "test: needs an absent library", "--json", str(out)])
    finally:
        del _REGISTRY["test: needs an absent library"]
    captured = capsys.readouterr()
    assert status == 0
    assert "skipped: needs somelib" in captured.out
    doc = json.loads(out.read_text())
    row = doc["cases"][0]
    assert row["skipped"] == "needs somelib" and row["times"] == {} and "errors" not in row
    schema.validate(doc)
