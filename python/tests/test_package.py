"""The package's import: built for one torch, it refuses another with a one-line ImportError."""
import subprocess
import sys


def test_importing_under_another_torch_is_a_clear_error():
    code = "import torch; torch.__version__ = '1.0.0'; import eshift"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: eshift was built against torch ") and "this is torch 1.0.0" in last, last
    assert "pip install --force-reinstall --no-deps ." in last


def test_the_extension_reports_the_torch_it_was_built_for():
    import torch

    import eshift

    assert eshift._C.torch_version == torch.__version__.split("+")[0]
