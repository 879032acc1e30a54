"""Write the documentation site's generated pages (never copied by hand):

- ``docs/index.md``: the README, its links made relative to ``docs/``;
- ``docs/reference/cli.md``: every command and option, from the Typer app (what ``--help`` prints);
- ``docs/reference/api.md``: the public Python API, signatures and docstrings;
- ``docs/results.md``: the headline tables, from ``docs/results/`` (the benchmark runs' own files).

    python docs/gen_pages.py            # rewrite them
    python docs/gen_pages.py --check    # exit 1 if one is out of date (tests/test_readme.py runs this)

``mkdocs build --strict`` (``mkdocs.yml``) builds the site from ``docs/``.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RESULTS = DOCS / "results"
API = [  # (module, names): what a Python user imports
    ("cance_cli", ["CANCE", "load_data"]),
    ("cance_cli.data.dataset", ["Dataset"]),
    ("cance_cli.training.autoencoder", ["ConstrainedAutoencoder"]),
    ("cance_cli.training.nce", ["NCEDensity"]),
    ("cance_cli.pca", ["PCAFeatureMap"]),
    ("cance_cli.training.nae", ["NormalizedAutoencoder"]),
    ("cance_cli.training.mpdr", ["MPDR"]),
    ("cance_cli.registry", ["register", "save_part", "load_part"]),
    ("cance_cli.parts", ["Part"]),
    ("cance_cli.errors", ["CanceError", "DataError", "ArtifactError", "ConfigError"]),
]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("\\[", "[").replace("|", "\\|")


# ---------------------------------------------------------------- index (the README)

def render_index() -> str:
    text = (ROOT / "README.md").read_text()
    text = re.sub(r"\]\(docs/", "](", text)
    # the site holds docs/ only: a link into examples/ becomes the path in the repository
    text = re.sub(r"\[([^\]]*)\]\((examples/[^)]*)\)", r"\1 (in the repository: `\2`)", text)
    note = "<!-- generated from README.md by docs/gen_pages.py; edit the README -->\n"
    return note + text


# ---------------------------------------------------------------- the command line

def _commands(group):
    for name, command in group.commands.items():
        if not getattr(command, "hidden", False):
            yield name, command


def render_cli() -> str:
    import typer

    try:
        from typer import _click as click
    except ImportError:  # pragma: no cover - older typer depends on click
        import click
    from cance_cli.cli import app

    group = typer.main.get_command(app)
    out = ["# Command-line reference", "",
           "Generated from the Typer app by `python docs/gen_pages.py`; `cance COMMAND --help` prints the",
           "same. Every command also takes `--config FILE.toml` (options from a file; the command line wins).", ""]
    out += [f"- [`cance {name}`](#cance-{name}): {_cell((c.help or '').strip().splitlines()[0])}"
            for name, c in _commands(group)]
    for name, command in _commands(group):
        context = click.Context(command, info_name=f"cance {name}")
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        usage = " ".join([f"cance {name}", "[OPTIONS]", *(p.name.upper() + ("..." if p.nargs == -1 else "")
                                                         for p in arguments)])
        about = (command.help or "").strip().replace("\\[", "[")
        out += ["", f"## cance {name}", "", "```", usage, "```", "", about, ""]
        rows = []
        for p in command.params:
            if getattr(p, "hidden", False) or p.name == "help":
                continue
            record = p.get_help_record(context) if p.param_type_name == "option" else \
                (p.name.upper(), getattr(p, "help", "") or "")
            if record:
                rows.append(f"| `{_cell(record[0])}` | {_cell(record[1])} |")
        if rows:
            out += ["| option | what it does |", "|---|---|", *rows]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the Python API

def _public_methods(cls) -> list[str]:
    own = [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_") and inspect.getdoc(v)]
    return sorted(own)


def render_api() -> str:
    import importlib

    out = ["# Python API reference", "",
           "Generated from the docstrings by `python docs/gen_pages.py`. Scores are always higher = more "
           "anomalous; estimators follow scikit-learn (`fit` returns self, fitted attributes end in `_`).", ""]
    for module_name, names in API:
        module = importlib.import_module(module_name)
        for name in names:
            obj = getattr(module, name)
            kind = "class" if inspect.isclass(obj) else "function"
            try:
                signature = str(inspect.signature(obj))
            except (TypeError, ValueError):
                signature = "(...)"
            out += [f"## `{module_name}.{name}`", "", "```python", f"{kind} {name}{signature}", "```", "",
                    inspect.getdoc(obj) or "(no docstring)", ""]
            if inspect.isclass(obj) and not issubclass(obj, Exception):
                for method in _public_methods(obj):
                    member = getattr(obj, method)
                    try:
                        sig = str(inspect.signature(member))
                    except (TypeError, ValueError):
                        sig = "(...)"
                    doc = (inspect.getdoc(member) or "").split("\n\n")[0]
                    out += [f"- `{method}{sig}`: {_cell(doc)}"]
                out += [""]
    text = "\n".join(out).rstrip() + "\n"
    return re.sub(r" at 0x[0-9a-f]+", "", text)  # default values' addresses change per run


# ---------------------------------------------------------------- results

def _bench_summary(folder: str, title: str) -> list[str]:
    """The header, mean and average-rank rows of the AUROC table `cance bench` wrote."""
    path = RESULTS / "bench" / folder / "results.md"
    lines = path.read_text().splitlines()
    start = lines.index("AUROC") + 2
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    keep = [table[0], table[1]] + [r for r in table[2:] if r.startswith(("| **mean", "| **avg rank"))]
    out = [f"### {title}", "", f"`docs/results/bench/{folder}/results.md` (every split there).", "", *keep, ""]
    figures = sorted((RESULTS / "bench" / folder).glob("roc-*.png"))[:1]  # the run's own ROC figure
    return out + [f"![ROC curves, {title}](results/bench/{folder}/{f.name})" for f in figures] + [""] * bool(figures)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ablation(name: str, title: str) -> list[str]:
    """The paper's ablation columns (mean over classes of the mean over seeds) from a one-class run."""
    by = defaultdict(list)
    for r in _jsonl(RESULTS / name):
        by[(r["method"], r["normal"])].append(r["auroc"])
    methods = [m for m in ("Error", "Gauss", "LatNCE", "CNCE", "CANCE") if any(k[0] == m for k in by)]
    classes = sorted({c for _, c in by})
    seeds = max(len(v) for v in by.values())
    means = [sum(sum(by[m, c]) / len(by[m, c]) for c in classes) / len(classes) for m in methods]
    return [f"### {title}", "", f"`docs/results/{name}` ({len(classes)} classes, {seeds} seeds).", "",
            "| | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods),
            "| mean AUROC | " + " | ".join(f"{v:.3f}" for v in means) + " |", ""]


def _categorical() -> list[str]:
    rows = [r for r in _jsonl(RESULTS / "categorical" / "results.jsonl") if "[" not in r["method"]]
    by = defaultdict(list)
    for r in rows:
        by[(r["method"], r["table"])].append(r["auroc"])
    methods = sorted({m for m, _ in by}, key=lambda m: (m != "CANCE", m))
    tables = sorted({t for _, t in by})
    out = ["### Raw categorical tables (`cance fit` with no preparation; peers on one-hot)", "",
           "`docs/results/categorical/results.jsonl` (`python benchmarks/categorical_novelty.py`, seeds 0-2).", "",
           "| table | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for t in tables:
        out.append(f"| {t} | " + " | ".join(f"{sum(by[m, t]) / len(by[m, t]):.3f}" for m in methods) + " |")
    means = [sum(sum(by[m, t]) / len(by[m, t]) for t in tables) / len(tables) for m in methods]
    out.append("| **mean** | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    return out + [""]


def _cifar() -> list[str]:
    def variant(name: str, file: str) -> dict[str, float]:
        return {r["normal"]: r["auroc"] for r in _jsonl(RESULTS / "cifar10" / file)
                if r["variant"] == name and r["seed"] == 0}  # the table is seed 0; other seeds in benchmarks.md

    columns = {"cance (session 18)": variant("cance-fit-pca-auto", "diagnosis.jsonl"),
               "error at k90, composite view": variant("cance-fit-pca-auto", "pca-error90.jsonl"),
               "composite + kNN (session 19)": variant("cance-fit-pca-auto", "views-knn.jsonl"),
               "cance now (unit-length rows)": variant("cance-fit-pca-auto", "unit-rows.jsonl"),
               "kNN-5 cosine": variant("knn5-cosine", "diagnosis.jsonl")}
    classes = [c for c in columns["cance (session 18)"] if all(c in d for d in columns.values())]
    out = ["### One-class CIFAR-10 (JPEG q75 copy), frozen EfficientNet-Lite0 embeddings", "",
           "`docs/results/cifar10/` (seed 0): `cance fit --pca auto` as it was, with session 19's error rule (the "
           "error columns against the whole 90 %-variance subspace), with the neighbour view beside it (session 19), "
           "and on rows scaled to unit length (the default since session 20); cosine kNN-5 on the same "
           "embeddings.", "",
           "| class | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for c in classes:
        out.append(f"| {c} | " + " | ".join(f"{d[c]:.3f}" for d in columns.values()) + " |")
    if classes:
        out.append(f"| **mean ({len(classes)})** | " + " | ".join(
            f"{sum(d[c] for c in classes) / len(classes):.3f}" for d in columns.values()) + " |")
    return out + [""]


def render_results() -> str:
    out = ["# Results", "",
           "The headline tables, generated from the runs' own files in `docs/results/` by "
           "`python docs/gen_pages.py`. Mean AUROC (higher is better); the best of a row in bold where the "
           "runner marked it. Commands, machine, date and every per-split number: the "
           "[lab notebook](benchmarks.md).", "",
           "## Images, one class normal", ""]
    out += _ablation("mnist-one-class.jsonl", "One-class MNIST: the paper's ablation columns")
    out += _bench_summary("mnist-one-class", "One-class MNIST: the baselines on the same splits")
    out += _ablation("fashion-one-class.jsonl", "One-class Fashion-MNIST: the paper's ablation columns")
    out += _bench_summary("fashion-one-class", "One-class Fashion-MNIST: the baselines on the same splits")
    out += _cifar()
    out += ["## Tables", ""]
    out += _bench_summary("novelty", "15 ADBench development tables, novelty protocol (3 seeds)")
    out += _categorical()
    return "\n".join(out).rstrip() + "\n"


PAGES = {DOCS / "index.md": render_index, DOCS / "reference" / "cli.md": render_cli,
         DOCS / "reference" / "api.md": render_api, DOCS / "results.md": render_results}


if __name__ == "__main__":
    stale = []
    for page, render in PAGES.items():
        text = render()
        if "--check" in sys.argv:
            if not page.is_file() or page.read_text() != text:
                stale.append(str(page.relative_to(ROOT)))
        else:
            page.parent.mkdir(exist_ok=True)
            page.write_text(text)
    if stale:
        sys.exit(f"out of date: {', '.join(stale)}; run python docs/gen_pages.py")
