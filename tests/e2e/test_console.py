"""The operator's console in a real browser: headless Chromium (Debian's, through its WebDriver) opens
`livedub up`'s console while a stream is published; the stream is listed as running, its dubbed
output plays from HLS (the video's clock advances, audio is decoded). A screenshot is kept beside the
test's logs (``console.png``)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from livedub.proc.child import spawn, wait_until
from tests.require import require

from .conftest import requires_media
from .test_up_and_demo import _env, _ready

pytestmark = [pytest.mark.e2e, *requires_media]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def browser(tmp_path: Path):
    require(shutil.which(CHROMIUM) is not None and shutil.which(CHROMEDRIVER) is not None,
            "chromium and chromium-driver are not installed (./scripts/install.sh --test)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1100,1300",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    return webdriver.Chrome(options=options, service=service)


def test_the_console_lists_the_running_stream_and_plays_its_dubbed_output(tmp_path: Path, start_publisher) -> None:
    env = _env(tmp_path, WORKER_STS_MODE="mock", WORKER_BUFFER_TARGET="3s")
    base = "http://" + env["ORCH_HTTP_ADDR"]
    with (tmp_path / "up.log").open("wb") as log:
        up = spawn([sys.executable, "-m", "livedub.cli.main", "up", "--no-status"], env=env,
                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    driver = None
    try:
        assert wait_until(lambda: _ready(base), 30,
                          abort=lambda: "livedub up exited" if up.poll() is not None else None), (
            (tmp_path / "up.log").read_text())
        # `livedub up` says where the console is (its banner follows the orchestrator's readiness)
        assert wait_until(lambda: f"{base}/" in (tmp_path / "up.log").read_text(), 10, interval=0.2)
        # the feed a console reads: every stream, with where to watch it
        with httpx.stream("GET", base + "/v1/events", timeout=5) as feed:
            first = next(line for line in feed.iter_lines() if line.startswith("data: "))
        assert json.loads(first[len("data: "):])["streams"] == []
        start_publisher(f"rtmp://127.0.0.1:{env['MEDIA_RTMP_PORT']}/live//cam1/in", duration_s=120)

        driver = browser(tmp_path)
        driver.get(base + "/")
        assert driver.title == "livedub console"
        running = "return [...document.querySelectorAll('tr.stream')].map(r => r.innerText)"
        assert wait_until(lambda: any(row.startswith("cam1") and "running" in row and "local" in row
                                      for row in driver.execute_script(running)), 30, interval=0.5), (
            driver.execute_script(running))
        # the worker's run: mock mode, its delay, segments dubbed (read from its run bundle)
        assert wait_until(lambda: any("mock" in row and "3.0 s" in row and "(100 %)" in row
                                      for row in driver.execute_script(running)), 30, interval=0.5), (
            driver.execute_script(running))
        driver.find_element("css selector", "tr[data-stream='cam1']").click()
        playing = ("const v = document.getElementById('video');"
                   "return [v.currentTime, v.readyState, v.webkitAudioDecodedByteCount || 0,"
                   " document.getElementById('note').textContent];")
        assert wait_until(lambda: driver.execute_script(playing)[0] > 2.0, 40, interval=0.5), (
            driver.execute_script(playing))
        current, ready, audio_bytes, note = driver.execute_script(playing)
        assert ready >= 2 and audio_bytes > 0, (current, ready, audio_bytes, note)
        assert note == "/v1/streams/cam1/hls/index.m3u8", note  # nginx's HLS with the live captions
        # what the worker heard and said, from its run bundle (mock mode: its tones' descriptions)
        lines = "return [...document.querySelectorAll('#lines li')].map(li => li.innerText)"
        assert wait_until(lambda: any("tone" in line for line in driver.execute_script(lines)), 20, interval=0.5), (
            driver.execute_script(lines))
        # live captions as an HLS subtitle track: the speaker's track (the fake STS translates nothing)
        # shows its tones' names, each cue while the video plays that part
        driver.execute_script("hls.subtitleTrack = 1;")
        shown = ("const v = document.getElementById('video');"
                 "return [...v.textTracks].flatMap(t => t.cues ? [...t.cues].map(c => [c.text, c.startTime, c.endTime]) : [])"
                 ".concat([[null, v.currentTime, hls.subtitleTracks.map(t => t.name).join('|')]]);")
        assert wait_until(lambda: any(text and "tone" in text for text, _, _ in driver.execute_script(shown)), 30,
                          interval=0.5), driver.execute_script(shown)
        *cues, (_, now, names) = driver.execute_script(shown)
        assert names == "es (dub)|en (speaker)", names
        # placed on the video's timeline: cues near what plays now, not minutes away (a wrong PTS map)
        assert any(abs(start - now) < 15 for _, start, _ in cues), (now, cues)
        driver.save_screenshot(str(tmp_path / "console.png"))

        # the operator's buttons: the same POST /v1/streams/cam1/restart|stop as curl (the browser is on loopback)
        def record() -> dict:
            return httpx.get(f"{base}/v1/streams/cam1", timeout=5).json()

        first_run = record()["runId"]
        driver.find_element("css selector", "#restart").click()
        assert wait_until(lambda: record()["state"] == "running" and record()["runId"] != first_run, 30,
                          interval=0.3), record()
        result = "return document.getElementById('control-result').textContent"
        assert "restart: accepted" in driver.execute_script(result)
        driver.find_element("css selector", "#stop").click()
        assert wait_until(lambda: record()["state"] == "idle" and record()["stoppedByOperator"], 30,
                          interval=0.3), record()
        assert wait_until(lambda: any(row.startswith("cam1") and "stopped by the operator" in row
                                      for row in driver.execute_script(running)), 10, interval=0.5), (
            driver.execute_script(running))
    finally:
        if driver is not None:
            driver.quit()
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
