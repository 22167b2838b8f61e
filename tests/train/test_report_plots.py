"""The report plots write PNGs and reject malformed inputs with clear messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from quaton_fast import report  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    phases = rng.integers(0, 4, (3, 16, 16)) * (math.pi / 2)
    boxes = np.array([[1, 1, 3, 3], [1, 8, 3, 3], [8, 4, 3, 3]])
    paths = [
        report.plot_phase_masks(phases, tmp_path / "m.png", levels=4),
        report.plot_output_intensity(rng.random((2, 28, 28)), rng.random((2, 16, 16)), boxes, [0, 2], [0, 1],
                                     tmp_path / "o.png"),
        report.plot_confusion(rng.integers(0, 9, (3, 3)), tmp_path / "c.png"),
        report.plot_phase_histograms(rng.integers(0, 50, (4, 3, 32)), tmp_path / "h.png", levels=4),
    ]
    for p in paths:
        with open(p, "rb") as fh:
            head = fh.read(24)
        assert head[:8] == PNG
        width = int.from_bytes(head[16:20], "big")   # IHDR: width, height (big-endian) after the chunk header
        assert width >= report.plots.MIN_WIDTH_PX, (p, width)   # print quality (issue 25, item 13)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["c.png", "h.png", "m.png", "o.png"]  # no temp files


def test_plots_reject_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"plot_phase_masks\(\): argument 'phases' must be a non-empty 3-d"):
        report.plot_phase_masks(np.zeros((4, 4)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="must be square"):
        report.plot_confusion(np.zeros((2, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="same length"):
        report.plot_output_intensity(np.zeros((2, 4, 4)), np.zeros((1, 4, 4)), np.zeros((1, 4)), [0], [0],
                                     tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_vector_output_and_marks_explained(tmp_path, monkeypatch):
    """A .pdf/.svg path writes a vector file; the detector boxes' colours are in a legend and the
    phase histograms say what their y axis counts."""
    rng = np.random.default_rng(1)
    boxes = np.array([[1, 1, 3, 3], [1, 8, 3, 3]])
    seen = {}
    plots = report.plots
    real_save = plots._save

    def spy(fig, path, dpi):
        seen[path.name] = ([t.get_text() for leg in fig.legends for t in leg.get_texts()],
                           fig._supylabel.get_text() if fig._supylabel is not None else "")
        return real_save(fig, path, dpi)

    monkeypatch.setattr(plots, "_save", spy)
    report.plot_output_intensity(rng.random((2, 8, 8)), rng.random((2, 12, 12)), boxes, [0, 1], [1, 1],
                                 tmp_path / "o.svg")
    report.plot_phase_histograms(rng.integers(0, 9, (2, 2, 16)), tmp_path / "h.pdf", levels=4)
    assert (tmp_path / "o.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "h.pdf").read_bytes()[:5] == b"%PDF-"
    legend = " ".join(seen["o.svg"][0])
    assert "true class" in legend and "predicted" in legend and "other" in legend
    assert "neurons per bin" in seen["h.pdf"][1]
