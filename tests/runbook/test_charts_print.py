"""Chinese glyphs in the charts (no missing-glyph warnings) and printing the HTML runbook
with headless Chromium (several A4 pages)."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from connectors.journal.history import open_reader
from shangyun import charts
from shangyun.runbook import write_runbook
from tests.runbook.conftest import RanWave


def test_chinese_renders_with_a_cjk_font() -> None:
    assert charts.cjk_font() is not None, "install fonts-noto-cjk"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        png = charts.gantt_png([{"label": "审批系统", "kind": "convert", "start": 0.0,
                                 "seconds": 60.0}], "第 1 批 · 甘特图", "耗时")
        png += charts.dependency_png([{"id": "a", "label": "档案系统", "inside": True}], [],
                                     "依赖关系图")
    missing = [str(w.message) for w in seen if "missing from font" in str(w.message)]
    assert missing == [] and png.startswith(b"\x89PNG")


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_html_runbook_prints_to_several_pages(ran_wave: RanWave, tmp_path: Path) -> None:
    with open_reader(ran_wave.root) as history:
        html = write_runbook(ran_wave.root, 1, "html", "zh", tmp_path / "wave-1.html",
                             journal=history)
    pdf = tmp_path / "wave-1.pdf"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", html.as_uri()],
                   capture_output=True, timeout=120, check=False)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    assert pages >= 2  # a page break before "after the wave"
