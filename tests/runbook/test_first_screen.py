"""The runbook in a real browser (headless Chromium, as the dashboard test runs it): its
first screen shows the verdict (GO / NO-GO) and the outcome, and no sentence there names a
system by its id alone (#17). A screenshot of that screen is kept: set
``SHANGYUN_KEEP_SCREENSHOT=<path>`` to copy it there (``docs/img/runbook-first-screen.png``
was made so)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.journal.history import open_reader
from shangyun.runbook import write_runbook
from tests.runbook.conftest import RanWave

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1280,900"]
PROBE = """<script>
window.addEventListener("load", () => {
  const h = window.innerHeight, blocks = [];
  for (const el of document.querySelectorAll("h1, h2, h3, p, li, td, th, b, div")) {
    const r = el.getBoundingClientRect();
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (own && r.height > 0 && r.top < h) blocks.push(el.innerText.trim());
  }
  const pre = document.createElement("pre");
  pre.id = "first-screen-probe";
  pre.textContent = JSON.stringify({height: h, blocks: blocks});
  document.body.appendChild(pre);
});
</script>"""
"""Added to a copy of the document: lists the text of every block that starts within the
first screen (the window's height), for the test to read from the dumped DOM."""
ID = re.compile(r"\bsys-\d{2}\b")


def first_screen(document: Path, tmp: Path) -> tuple[list[str], Path]:
    """The text blocks Chromium shows on the first screen of ``document``, and a
    screenshot of that screen."""
    probe = tmp / "probe.html"
    probe.write_text(document.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    base = [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp / 'profile'}"]
    shot = tmp / "first-screen.png"
    subprocess.run([*base, f"--screenshot={shot}", document.as_uri()], capture_output=True,
                   timeout=120, check=False)
    dom = subprocess.run([*base, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    found = re.search(r'<pre id="first-screen-probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    data = json.loads(html.unescape(found.group(1)))
    assert data["height"] > 500
    return [str(b) for b in data["blocks"]], shot


@pytest.mark.skipif(CHROMIUM is None,
                    reason="Debian's chromium is not installed (apt-get install -y chromium)")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_first_screen_shows_the_verdict_and_the_outcome_by_name(
        ran_wave: RanWave, lang: str, tmp_path: Path) -> None:
    with open_reader(ran_wave.root) as history:
        doc = write_runbook(ran_wave.root, 1, "html", lang, tmp_path / f"wave-1.{lang}.html",
                            journal=history)
    blocks, shot = first_screen(doc, tmp_path)
    seen = "\n".join(blocks)
    if lang == "zh":
        assert "结论" in seen and "暂不实施（NO-GO）" in seen, seen
        assert "执行结果" in seen and "失败：有系统未完成迁移" in seen, seen
        assert "已迁移" in seen and "已回退" in seen and "需要决定" in seen, seen
    else:
        assert "Verdict" in seen and "NO-GO" in seen, seen
        assert "Outcome" in seen and "failed: a system did not move" in seen, seen
        assert "Moved" in seen and "rolled back" in seen and "Needs a decision" in seen, seen
    names = {"sys-01": "审批系统", "sys-02": "档案系统"}
    assert names["sys-01"] in seen and names["sys-02"] in seen
    for block in blocks:  # an id is small print beside a name, never the sentence's subject
        for ident in set(ID.findall(block)):
            assert names[ident] in block, f"id-only sentence on the first screen: {block!r}"
    assert shot.is_file() and shot.stat().st_size > 20_000
    keep = os.environ.get("SHANGYUN_KEEP_SCREENSHOT")
    if keep and lang == "zh":
        shutil.copyfile(shot, keep)
