"""An HTML page of a run's generations: pictures of inputs, predictions and references
per task, the tasks' own illustrations, and the training loss curve.

Any value a modality can draw (its output decoder is a
:class:`~uio.plugins.spec.FileDecoder`) is shown as a PNG; a value whose decoder names
an HTML media element (``FileDecoder.html_media``) is also written beside the page
and played by the browser, above its picture.
Anything else is shown in words, through the decoder's ``render``.
The page and its files sit in one folder, so it can be copied or zipped as is.
"""

from __future__ import annotations

import csv
import html
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from uio.core.inference import LoadedRun
from uio.core.pipeline import ExamplePipeline
from uio.plugins.spec import FileDecoder

#: Pictures narrower than this are enlarged by a whole factor, nearest neighbour, so
#: small ones stay sharp on the page.
MIN_SHOWN_PX = 128
NEAREST = 0  # PIL's Resampling.NEAREST


def write_gallery(
    loaded: LoadedRun,
    results: list[dict[str, Any]],
    out_dir: Path,
    per_task: int = 6,
    title: str = "uio gallery",
) -> Path:
    """Write ``out_dir/index.html`` and its PNG files; return the page's path."""
    out_dir = Path(out_dir)
    (out_dir / "img").mkdir(parents=True, exist_ok=True)
    (out_dir / "media").mkdir(parents=True, exist_ok=True)
    page = _Page(out_dir)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if len(by_task[r["task"]]) < per_task:
            by_task[r["task"]].append(r)
    curve = loss_curve_svg(Path(loaded.run.config.train.out_dir) / "logs" / "metrics.csv")
    body = [f"<h1>{html.escape(title)}</h1>"]
    if curve is not None:
        body.append(f"<h2>training loss</h2>{curve}")
    pipeline = loaded.run.pipeline()
    for task, rows in sorted(by_task.items()):
        body.append(f"<h2>{html.escape(task)}</h2><table><tr><th>input</th><th>prediction</th>"
                    "<th>reference</th><th>illustration</th><th>scores</th></tr>")
        for i, r in enumerate(rows):
            body.append(_row(loaded, pipeline, page, f"{_slug(task)}-{i}", r))
        body.append("</table>")
    path = out_dir / "index.html"
    with open(path, "w", encoding="utf-8") as f:
        f.write(_HTML.format(title=html.escape(title), body="\n".join(body)))
    return path


class _Page:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def figure(self, picture: Any, name: str) -> str:
        """Save a picture (a PIL-style object with ``save``, ``resize`` and ``width``) as PNG
        and return its tag; small ones are enlarged by whole factors, nearest neighbour."""
        path = self.out_dir / "img" / f"{name}.png"
        factor = max(1, -(-MIN_SHOWN_PX // max(1, picture.width)))
        if factor > 1:
            picture = picture.resize((picture.width * factor, picture.height * factor), NEAREST)
        picture.convert("RGB").save(path, format="PNG")
        return f'<img src="img/{path.name}" alt="{html.escape(name)}">'

    def player(self, decoder: FileDecoder, value: Any, name: str) -> str:
        """Write a playable value with its decoder and return the media element the decoder
        names (``html_media``) playing it; ``""`` when it names none or cannot write the value."""
        kind = getattr(decoder, "html_media", None)
        if not isinstance(kind, str) or not kind.isalpha():
            return ""
        try:
            path = decoder.write(value, self.out_dir / "media" / f"{name}{decoder.file_suffix}")
        except (TypeError, ValueError, OSError):
            return ""  # e.g. a raw input the decoder cannot read: its picture or words still show
        return f'<{kind} controls preload="none" src="media/{Path(path).name}"></{kind}><br>'


def _is_picture(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("save", "resize", "convert", "width", "height"))


def _picture(loaded: LoadedRun, modality: str, value: Any) -> Any:
    decoder = loaded.run.bound[modality].decoder
    if not isinstance(decoder, FileDecoder):
        return None
    try:
        picture = decoder.picture(value)
    except (TypeError, ValueError, OSError):
        return None  # e.g. a raw input the decoder cannot read: rendered in words instead
    return picture if _is_picture(picture) else None


def _input_cell(
    loaded: LoadedRun, pipeline: ExamplePipeline, page: _Page, raw: dict[str, Any], modality: str,
    value: Any, name: str,
) -> str:
    """An input as :func:`_cell` shows it; a value its decoder cannot show as given (a file
    named relative to a manifest) is shown as its processor reads it for this example."""
    shown = _media(loaded, page, modality, value, name)
    if not shown and isinstance(value, str):
        try:
            prepared = loaded.prepared_value(pipeline, raw, modality, value)
        except (TypeError, ValueError, OSError):
            prepared = value
        if prepared is not value:
            shown = _media(loaded, page, modality, prepared, name)
    return shown or _words(loaded, modality, value)


def _cell(loaded: LoadedRun, page: _Page, modality: str, value: Any, name: str) -> str:
    return _media(loaded, page, modality, value, name) or _words(loaded, modality, value)


def _media(loaded: LoadedRun, page: _Page, modality: str, value: Any, name: str) -> str:
    """The value's player and picture, when its decoder makes them; ``""`` otherwise."""
    decoder = loaded.run.bound[modality].decoder
    player = page.player(decoder, value, name) if isinstance(decoder, FileDecoder) else ""
    picture = _picture(loaded, modality, value)
    return player + (page.figure(picture, name) if picture is not None else "")


def _words(loaded: LoadedRun, modality: str, value: Any) -> str:
    words = value if isinstance(value, str) else loaded.run.bound[modality].decoder.render(value)
    return f"<code>{html.escape(words)}</code>"


def _row(loaded: LoadedRun, pipeline: ExamplePipeline, page: _Page, name: str, r: dict[str, Any]) -> str:
    raw = r["raw"]
    _, built = pipeline.task_example(raw, random.Random(0))
    inputs = "<br>".join(
        _input_cell(loaded, pipeline, page, raw, m, v, f"{name}-in{j}") for j, (m, v) in enumerate(built.inputs)
    ) or "<i>(none)</i>"
    prediction = _cell(loaded, page, r["modality"], r["prediction"], f"{name}-pred")
    reference = _cell(loaded, page, r["modality"], r["reference"], f"{name}-ref")
    task = loaded.run.registry.task(raw["task"])
    illustration = ""
    if task.illustrate is not None:
        picture = task.illustrate(raw, r["prediction"], r["reference"])
        if _is_picture(picture):
            illustration = page.figure(picture, f"{name}-illustration")
    scores = ", ".join(f"{k} {v:.2f}" for k, v in r["scores"].items())
    return (f"<tr><td>{inputs}</td><td>{prediction}</td><td>{reference}</td>"
            f"<td>{illustration}</td><td>{html.escape(scores)}</td></tr>")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "task"


def loss_curve_svg(metrics_csv: Path, size: tuple[int, int] = (480, 240)) -> str | None:
    """An inline SVG of ``train/loss`` by step from Lightning's CSV log; ``None`` without one."""
    if not metrics_csv.exists():
        return None
    points = []
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("train/loss") and row.get("step"):
                points.append((float(row["step"]), float(row["train/loss"])))
    if len(points) < 2:
        return None
    w, h = size
    pad = 40
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    sx = (w - 2 * pad) / ((x1 - x0) or 1.0)
    sy = (h - 2 * pad) / ((y1 - y0) or 1.0)
    line = " ".join(f"{pad + (x - x0) * sx:.1f},{h - pad - (y - y0) * sy:.1f}" for x, y in points)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="training loss by step">'
        f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" stroke="#bbb"/>'
        f'<polyline points="{line}" fill="none" stroke="#1e5ac8" stroke-width="2"/></svg>'
    )
    return (f"<figure>{svg}<figcaption>train/loss from {y0:.3f} (bottom) to {y1:.3f} (top), "
            f"steps {x0:.0f} to {x1:.0f}</figcaption></figure>")


_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
td, th {{ border: 1px solid #ccc; padding: 6px; vertical-align: top; }}
code {{ white-space: pre-wrap; }}
</style></head>
<body>
{body}
</body></html>
"""
