"""The package as a user gets it: the wheel built from this checkout, installed with its dependencies into a fresh
virtual environment (torch's CPU build first, as the Makefile installs it; the pip cache reused), then
``checkpoint-qa search`` and ``ask`` run from a folder outside the checkout with a fresh home folder: the first
command builds the default knowledge base from the corpus inside the wheel, once, in the user's data folder."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

TORCH = os.environ.get("TORCH", "torch==2.13.0")


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.mark.model
def test_the_installed_wheel_answers_from_any_folder_on_first_use(tmp_path):
    pytest.importorskip("build")
    built = run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
                 str(ROOT)], cwd=ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("checkpoint_qa-*.whl"))

    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}  # the real pip cache
    installed = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", TORCH, f"{wheel}[fast]"],
                    env=pip_env)
    assert installed.returncode == 0, installed.stderr[-3000:]

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CHECKPOINT_QA_"))}
    env.update({"HOME": str(home), "HF_HUB_OFFLINE": "1", "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"})
    tool = str(venv / "bin" / "checkpoint-qa")

    search = run([tool, "search", "JAK1 JAK2 loss of function", "--json", "-k", "3"], cwd=elsewhere, env=env)
    assert search.returncode == 0, search.stderr[-3000:]
    data = home / ".local" / "share" / "checkpoint-qa" / "index"
    assert search.stderr.count("First use") == 1 and str(data) in search.stderr
    assert json.loads(search.stdout)[0]["pmid"] == "27903500"  # Shin et al. 2017

    ask = run([tool, "ask", "What is the role of TGF-beta in resistance to PD-L1 blockade?", "--json"],
              cwd=elsewhere, env=env)
    assert ask.returncode == 0, ask.stderr[-3000:]
    assert "First use" not in ask.stderr  # built once
    answer = json.loads(ask.stdout)
    assert answer["citations"] and all(c["quote"] for c in answer["citations"]) and "[1]" in answer["answer"]
    assert len([v for v in data.iterdir() if v.name.startswith("v-")]) == 1
