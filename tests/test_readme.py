"""The README's commands run as written on a fresh checkout (no data beyond the repository); the
documentation site's generated pages are up to date and the site builds with no warning."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = "<!-- not run by tests/test_readme.py"


def readme_blocks(language: str) -> list[str]:
    """The README's fenced ``language`` blocks, except those right after a "not run" marker."""
    text = (ROOT / "README.md").read_text()
    blocks = []
    for found in re.finditer(rf"(?P<before>[^\n]*)\n```{language}\n(?P<body>.*?)```", text, re.S):
        if not found.group("before").startswith(NOT_RUN):
            blocks.append(found.group("body"))
    return blocks


def test_every_block_not_run_here_says_why():
    text = (ROOT / "README.md").read_text()
    for marker in re.findall(rf"{re.escape(NOT_RUN)}(.*?)-->", text):
        assert marker.strip(" :"), "a README block skipped by this test must say why"


def test_the_readme_commands_run_on_a_fresh_checkout(tmp_path):
    blocks = readme_blocks("bash")
    assert blocks and any("cance fit" in b for b in blocks)
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the data the README's commands name
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "cance").exists():  # a checkout run without installing: the module stands in
        shim = tmp_path / "bin" / "cance"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cance_cli "$@"\n')
        shim.chmod(0o755)
        bin_dir = shim.parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    for block in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (block, done.stderr[-3000:])
        if "cance evaluate" in block:
            assert float(done.stdout.strip().splitlines()[-1]) > 0.8, done.stdout  # fraud scores higher
    header = (tmp_path / "scores.csv").read_text().splitlines()[0]
    assert "why_1" in header and "is_flagged" in header


def test_the_readme_python_block_runs(tmp_path, monkeypatch):
    (block,) = readme_blocks("python")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_the_generated_pages_are_up_to_date():
    """docs/index.md (the README), the CLI and API references and the results page."""
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_pages.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_the_documentation_site_builds_with_no_warning(tmp_path):
    pytest.importorskip("mkdocs", reason="the test extra installs mkdocs; pip install '.[test]'")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
                           str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


@pytest.mark.parametrize("page", sorted(p.relative_to(ROOT).as_posix() for p in
                                        [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]))
def test_relative_links_point_at_files_that_exist(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (path.parent / target).exists(), f"{page} links to {target}, which does not exist"
