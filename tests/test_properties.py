"""Runs each property module of tests/properties (hypothesis) in its own
pytest subprocess, so that a crash (segfault, abort) in a generated example
is a failing test here, with the subprocess's output, instead of the end of
the run.  `pytest --hypothesis-profile=long` passes the deeper profile on."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = sorted(f for f in os.listdir(os.path.join(HERE, "properties")) if f.startswith("prop_"))


@pytest.mark.parametrize("module", MODULES)
def test_property_module(module, request):
    profile = request.config.getoption("hypothesis_profile", None)
    cmd = [sys.executable, "-X", "faulthandler", "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "--rootdir", os.path.dirname(HERE), os.path.join(HERE, "properties", module)]
    if profile:
        cmd.append(f"--hypothesis-profile={profile}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.path.join(HERE, "properties")]))
    proc = subprocess.run(cmd, cwd=os.path.dirname(HERE), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode < 0 or proc.returncode >= 128:
        pytest.fail(f"{module} crashed (status {proc.returncode}):\n{proc.stdout[-6000:]}")
    assert proc.returncode == 0, f"{module} failed:\n{proc.stdout[-8000:]}"
