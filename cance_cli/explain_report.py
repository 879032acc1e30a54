"""`cance explain`: a readable HTML report of the highest-scoring rows of a table and why each scored high.

One plain file, no server, no scripts: per row its score, a bar chart of each column's share of the row's
excess score (PNG, embedded), and a table of the responsible columns with the row's value, the typical normal
value and the training range. The attributions are those of :mod:`cance_cli.explain`.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ArtifactError
from cance_cli.estimator import CANCE
from cance_cli.explain import column_groups, explanation_columns, normal_ranges, require_explainable
from cance_cli.explain_images import as_images, image_maps, panel, require_image_model
from cance_cli.features import id_array, named_table
from cance_cli.io.paths import atomic_path, check_output
from cance_cli.model import refuse_output_inside_model
from cance_cli.model_input import PREDICT_BATCH, given_rows, read_for_model
from cance_cli.plots import pyplot
from cance_cli.views.fusion import combine

REPORT_COLUMNS = 8  # columns named per row (the bars and the table)


def write_report(data, model, out, *, top: int = 20, read: dict[str, Any] | None = None, device: str = "cpu",
                 progress=None) -> dict[str, Any]:
    """Score every row of ``data`` with the model folder ``model`` and write the HTML report ``out`` of the
    ``top`` highest-scoring rows. Returns what was written (rows scored, rows explained, flagged).
    ``progress(n_steps)`` returns a context manager yielding a per-step callback."""
    from cance_cli import validate

    validate.at_least("`top`", top, 1)
    refuse_output_inside_model(out, model)
    check_output(out, inputs=[data, model], writes="html")
    if Path(out).suffix.lower() not in (".html", ".htm"):
        raise ArtifactError(f"`out` {out} must name an .html file; name it {Path(out).with_suffix('.html').name}.")
    est = CANCE.load(model, device=device)
    images = est.settings_.get("kind") == "image"
    if images:
        require_image_model(est)
    else:
        require_explainable(est)
    ds, carved = read_for_model(data, est, model, read)
    x = ds.x.reshape(len(ds), -1)
    starts = range(0, len(ds), PREDICT_BATCH)
    names = [] if images else column_groups(est)[0]
    given = given_rows(data, names) if named_table(data) and not carved and not images else None
    k = min(REPORT_COLUMNS, len(names))
    with (progress(len(starts) + 1) if progress else contextlib.nullcontext()) as advance:
        scores = []
        for s in starts:
            scores.append(combine(est.view_scores(ds.subset(np.arange(s, min(s + PREDICT_BATCH, len(ds))))),
                                  est.calibration_))
            if advance:
                advance()
        scores = np.concatenate(scores)
        rows = np.argsort(-scores, kind="stable")[:top]
        ids = id_array(ds, ds.ids[rows]).to_pylist()
        if images:
            sections = _image_sections(est, ds.subset(rows), ids, scores[rows])
        else:
            why = explanation_columns(est, x[rows], k, None if given is None else given.take(rows))
            ranges = dict(zip(names, normal_ranges(est)))
            sections = [_row_section(i, ids[i], why, k, est.threshold_, ranges) for i in range(len(rows))]
        if advance:
            advance()
    flagged = int((scores > est.threshold_).sum())
    page = _page(str(data), str(model), len(ds), flagged, est.threshold_, sections)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return {"report": str(out), "rows": len(ds), "explained": len(rows), "flagged": flagged,
            "threshold": float(est.threshold_)}


def _row_section(i: int, row_id, why: dict[str, Any], k: int, threshold: float, ranges: dict[str, str]) -> str:
    score = float(why["score"][i])
    named = [(why[f"why_{j}"][i], float(why[f"why_{j}_share"][i]), why[f"why_{j}_value"][i],
              why[f"why_{j}_typical"][i]) for j in range(1, k + 1)]
    cells = "".join(f"<tr><td>{html.escape(c)}</td><td>{share:.1%}</td><td>{html.escape(value)}</td>"
                    f"<td>{html.escape(typical)}</td><td>{html.escape(ranges.get(c, ''))}</td></tr>"
                    for c, share, value, typical in named)
    flag = "flagged" if score > threshold else "not flagged"
    if "why_part" in why:
        flag += f"; the composite view's score mostly from its {why['why_part'][i]} part"
    return (f"<section><h2>#{i + 1}: row {html.escape(str(row_id))}, score {score:.4g} ({flag})</h2>"
            f"<img alt='shares of row {html.escape(str(row_id))}' src='data:image/png;base64,{_bars(named)}'>"
            "<table><tr><th>column</th><th>share of the excess score</th><th>value</th><th>typical</th>"
            f"<th>training range (5-95 %) or levels</th></tr>{cells}</table></section>")


def _image_sections(est, rows, ids: list, scores: np.ndarray) -> list[str]:
    """One section per image: the image, its occlusion map and (autoencoder path) reconstruction map."""
    images = as_images(est, rows)
    maps = image_maps(est, images)
    drawn = [name for name, m in maps.items() if m is not None]
    out = []
    for i, row_id in enumerate(ids):
        picture = panel(images[i], [maps[name][i] for name in drawn])
        buffer = io.BytesIO()
        pyplot().imsave(buffer, picture, format="png")
        flag = "flagged" if scores[i] > est.threshold_ else "not flagged"
        out.append(f"<section><h2>#{i + 1}: {html.escape(str(row_id))}, score {scores[i]:.4g} ({flag})</h2>"
                   f"<img alt='maps of {html.escape(str(row_id))}' src='data:image/png;base64,"
                   f"{base64.b64encode(buffer.getvalue()).decode('ascii')}'><p>the image, then "
                   f"{' and '.join(drawn)} (red = more anomalous)</p></section>")
    return out


def _bars(named: list[tuple[str, float, str, str]]) -> str:
    """A horizontal bar chart of the columns' shares, as base64 PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 0.35 * len(named) + 0.9))
    labels = [f"{c} = {value[:24]}" for c, _, value, _ in named][::-1]
    ax.barh(labels, [share for _, share, _, _ in named][::-1], color="#c44e52")
    ax.set(xlim=(0, 1), xlabel="share of the row's score above the typical normal score")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _page(data: str, model: str, n_rows: int, flagged: int, threshold: float, sections: list[str]) -> str:
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 2em}td,th{border:1px solid #ccc;padding:.2em .6em;"
             "text-align:left;font-size:90%}h2{font-size:110%;margin-top:2em}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>cance explain: {html.escape(data)}</title>"
            f"<style>{style}</style></head><body><h1>Why these rows scored high</h1>"
            f"<p>Data <code>{html.escape(data)}</code>, model <code>{html.escape(model)}</code>: {n_rows} rows scored, "
            f"{flagged} flagged (score &gt; {threshold:.4g}); the {len(sections)} highest-scoring below. A column's "
            "share is how much of the row's score above the typical normal score goes away when that column "
            "alone is put back to its typical value.</p>" + "".join(sections) + "</body></html>\n")
