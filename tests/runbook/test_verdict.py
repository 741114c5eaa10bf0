"""An honest go/no-go (issue #17, item 3): unknown is never OK, a window that is too short
fails visibly, and the runbook's first screen says GO or NO-GO and why. Pure functions."""

from __future__ import annotations

from shangyun.runbook.context import _window_check, verdict
from shangyun.runbook.i18n import translator
from shangyun.wave.estimate import window_verdict


def test_a_window_without_link_or_hours_is_unknown_and_names_what_to_fill_in() -> None:
    v = window_verdict(None, None, None, 0.1, 10.0)
    assert v == {"ok": None, "missing": ["link_mbps", "window_hours"], "why": []}
    assert window_verdict(100, None, None, 0.1, 10.0)["missing"] == ["window_hours"]


def test_a_window_too_short_for_the_estimate_fails_even_when_the_data_fits() -> None:
    # wave 2 of the sample estate: a 6 h window, one system estimated at 67 h 21 m
    v = window_verdict(200, 6.0, 21_600.0, 100.0, 67 * 3600 + 21 * 60)
    assert v["ok"] is False and v["why"] == ["time"]
    assert window_verdict(200, 6.0, 10.0, 100.0, 60.0)["why"] == ["data"]
    assert window_verdict(200, 6.0, 21_600.0, 100.0, 3600.0)["ok"] is True


def _window(bid: str, **v: object) -> dict[str, object]:
    return {"bureau": bid, "name": f"局 {bid}", **v}


def test_the_window_check_and_the_verdict() -> None:
    for lang in ("zh", "en"):
        t = translator(lang)
        ok = _window("b1", **window_verdict(100, 8.0, 1e6, 1.0, 60.0))
        unknown = _window("b2", **window_verdict(None, 8.0, None, 1.0, 60.0))
        late = _window("b3", **window_verdict(100, 6.0, 1e6, 1.0, 67 * 3600.0))
        assert _window_check([ok], t)["ok"] is True
        check = _window_check([ok, unknown], t)
        assert check["ok"] is False and "bureaus.link_mbps" in check["result"]
        assert ("unknown — fill in" if lang == "en" else "未知 — 请填写") in check["result"]
        check = _window_check([ok, unknown, late], t)
        assert check["ok"] is False and "b3" in check["result"] and "b2" not in check["result"]
        manual = {"text": "backups", "auto": False, "ok": None, "result": "□"}
        v = verdict([check, manual], t)
        assert v["go"] is False and "NO-GO" in v["label"] and len(v["reasons"]) == 1
        v = verdict([_window_check([ok], t), manual], t)
        assert v == {"go": True, "closed": False, "label": t("go"), "reasons": []}


def test_a_finalized_wave_has_no_go_no_go() -> None:
    for lang, words in (("en", "closed — wave 3 is finalized"), ("zh", "已收尾 — 第 3 批")):
        t = translator(lang)
        failing = _window_check([_window("b2", **window_verdict(None, None, None, 1.0, 6.0))],
                                t)
        v = verdict([failing], t, closed=3)
        assert v["go"] is None and v["closed"] is True and v["reasons"] == []
        assert v["label"].startswith(words) and "NO-GO" not in v["label"], v
        assert verdict([failing], t)["go"] is False  # not finalized: the checks decide
