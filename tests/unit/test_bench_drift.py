"""bench/drift.py's arithmetic: start against end, and the memory trend."""

from __future__ import annotations

import pytest

from bench.drift import slope_per_10_min, summarise
from bench.glass_to_glass import pair_flashes


def test_a_steady_delay_and_a_growing_one_are_told_apart() -> None:
    seconds = 300.0
    steady = [[t, 5.1] for t in range(0, 300, 2)]
    growing = [[t, 5.1 + t / 300] for t in range(0, 300, 2)]  # one second more by the end
    sync_at = [float(t) for t in range(0, 300, 2)]
    base = {"syncAtS": sync_at, "syncErrorMs": [3.0] * len(sync_at), "rssMiB": []}
    assert summarise({**base, "perFlash": steady}, seconds)["delayEndS"] == pytest.approx(5.1)
    ends = summarise({**base, "perFlash": growing}, seconds)
    assert ends["delayStartS"] < 5.25 and ends["delayEndS"] > 5.9
    assert ends["flashes"] == 150 and ends["expectedFlashes"] == 150


def test_the_memory_trend_ignores_the_first_minute_and_is_per_ten_minutes() -> None:
    filling = [(float(t), 100.0 + t) for t in range(0, 60, 5)]  # models and buffers fill: not a leak
    flat = [(float(t), 400.0) for t in range(60, 600, 5)]
    summary = summarise({"perFlash": [], "syncAtS": [], "syncErrorMs": [], "rssMiB": filling + flat}, 600.0)
    assert summary["rssSlopeMiBPer10Min"] == 0.0 and summary["rssStartMiB"] == 400.0
    leaking = [(float(t), 400.0 + t / 60) for t in range(60, 600, 5)]  # 1 MiB a minute
    assert slope_per_10_min(leaking) == pytest.approx(10.0)
    assert slope_per_10_min(leaking[:2]) is None


def test_flashes_pair_with_the_output_flash_nearest_the_configured_delay() -> None:
    inputs = [0.0, 2.0, 4.0]
    outputs = [5.04, 7.03, 11.0]  # the third input flash never came out; 11.0 belongs to no input flash
    assert pair_flashes(inputs, outputs, 5.0) == [(0.0, pytest.approx(5.04)), (2.0, pytest.approx(5.03))]


def test_results_are_written_with_the_plot_and_the_docs_block(tmp_path) -> None:
    from bench._common import replace_block, save_results

    docs = tmp_path / "docs" / "benchmarks.md"
    docs.parent.mkdir()
    docs.write_text("# Benchmarks\n")

    def plot(result, path) -> bool:
        path.write_bytes(b"png")
        return True

    def render(result, docs_path, json_name) -> None:
        replace_block(docs_path, "<!-- X:BEGIN -->", "<!-- X:END -->",
                      f"<!-- X:BEGIN -->\n{json_name} {result['plot']}\n<!-- X:END -->", "X")

    path = save_results({"value": 1}, name="x", results=tmp_path / "results", docs=docs, write_docs=True,
                        plot=plot, render=render)
    written = path.read_text()
    assert '"value": 1' in written and '"plot": "../results/' in written
    assert path.with_suffix(".png").read_bytes() == b"png"
    assert f"{path.name} ../results/{path.stem}.png" in docs.read_text()
