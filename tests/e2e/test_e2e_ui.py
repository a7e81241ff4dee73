"""The run browser (``bedrock-customize ui``) over the offline stack, in a real browser: Debian's chromium,
driven by selenium (bench.chromium). Two runs end first; then the runs table, a run's page (with a check of its
screenshot) and the two runs compared, as a person would click through them."""

from __future__ import annotations

import html
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from typer.testing import CliRunner

from bench.chromium import chromium
from cli import app as cli_app
from cli.stack import connect
from cli.ui.server import StackSource, serve_in_background
from offline.runtime import sample_dir
from tests.e2e.harness import E2E

pytestmark = pytest.mark.e2e
# The bundled sample is prompt/completion records: Titan's format (the stack's default base is Nova Micro).
QUICK = json.dumps(
    {
        "base_model_id": "amazon.titan-text-express-v1",
        "poll": {"job_seconds": 1, "throughput_seconds": 1},
        "evaluation": {"max_examples": 30},
    }
)
WIDTH, HEIGHT = 1400, 1800
TRAINING_BLUE, VALIDATION_RED = (0x09, 0x69, 0xDA), (0xCF, 0x22, 0x2E)  # the curves' colours (cli/ui/pages.py)


def _start(e2e: E2E, name: str) -> str:
    started = CliRunner().invoke(
        cli_app.app, ["--offline", "start", str(sample_dir()), "--name", name, "--settings", QUICK]
    )
    assert started.exit_code == 0, started.stderr
    execution = next(line for line in started.stdout.splitlines() if line.startswith("Started ")).split()[1]
    prefix, _, machine = e2e.runtime.state_machine_arn.partition(":stateMachine:")
    result = e2e.wait(f"{prefix}:execution:{machine}:{execution}")
    assert result.status == "SUCCEEDED", (result.error, result.cause, e2e.notifications_for(name))
    return execution


@pytest.fixture
def browser_setup(e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str], Any]]:
    monkeypatch.setenv("BEDROCK_CUSTOMIZE_ENDPOINTS", str(e2e.runtime.write_endpoints(tmp_path / "endpoints.json")))
    name = e2e.run_name("ui")
    executions = [_start(e2e, name), _start(e2e, f"{name}-b")]
    server, url = serve_in_background(StackSource(connect(offline=True)))
    try:
        with chromium(WIDTH, HEIGHT) as driver:
            yield url, executions, driver
    finally:
        server.shutdown()
        server.server_close()


def _rgb(image: Image.Image) -> list[tuple[int, int, int]]:
    raw = image.convert("RGB").tobytes()
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


def _colour_share(png: bytes, colour: tuple[int, int, int], tolerance: int = 40) -> float:
    pixels = _rgb(Image.open(io.BytesIO(png)))
    near = sum(1 for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, colour, strict=True)))
    return near / len(pixels)


def test_the_run_browser_shows_the_runs_a_run_and_two_runs_compared(
    e2e: E2E, browser_setup: tuple[str, list[str], Any], tmp_path: Path
) -> None:
    url, (first, second), driver = browser_setup
    # The runs table: both runs, with their status, method and decision
    driver.get(url + "/")
    rows = {
        r.find_element(By.CSS_SELECTOR, "input").get_attribute("value"): r.text
        for r in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    }
    for execution in (first, second):
        assert "SUCCEEDED" in rows[execution] and "fine-tuning" in rows[execution]
        assert "promote" in rows[execution] or "keep base" in rows[execution]
        assert "contains match" in rows[execution]

    # A run's page, reached by its link
    record = json.loads(
        CliRunner().invoke(cli_app.app, ["--offline", "show", first, "--json"], catch_exceptions=False).stdout
    )
    driver.find_element(By.LINK_TEXT, record["run_id"]).click()
    WebDriverWait(driver, 30).until(lambda d: "/run/" in d.current_url and d.find_elements(By.ID, "settings"))
    assert driver.find_element(By.TAG_NAME, "h1").text == f"Run {record['run_id']} SUCCEEDED"
    timeline = [r.text.split(" +")[0] for r in driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")]
    assert timeline == [s["state"] for s in record["steps"]]
    lineage = driver.find_element(By.ID, "lineage").text
    assert all(record["data"][role]["sha256"] in lineage for role in ("training", "validation", "test"))
    training = driver.find_element(By.CSS_SELECTOR, "#curves polyline.training").get_attribute("points") or ""
    assert len(training.split()) == record["training_metrics"]["training_steps"]
    assert "contains match" in driver.find_element(By.ID, "evaluation").text
    assert record["evaluation"]["decision"]["reason"] in driver.find_element(By.ID, "decision").text
    assert '"status": "SUCCEEDED"' in driver.find_element(By.ID, "notification").text
    assert record["settings"]["base_model_id"] in driver.find_element(By.ID, "settings").text
    WebDriverWait(driver, 30).until(EC.frame_to_be_available_and_switch_to_it((By.ID, "report")))
    WebDriverWait(driver, 30).until(lambda d: "contains match" in d.find_element(By.TAG_NAME, "body").text.lower())
    assert "contains match" in driver.find_element(By.TAG_NAME, "body").text.lower()  # the HTML report, framed
    driver.switch_to.default_content()

    # The screenshot of the run page: the page as drawn, header and curves included
    page = driver.get_screenshot_as_png()
    (tmp_path / "run-page.png").write_bytes(page)
    image = Image.open(io.BytesIO(page))
    assert image.width == WIDTH and image.height > HEIGHT / 2  # the viewport: the window less its frame
    assert image.convert("RGB").getpixel((5, 5)) == (0x23, 0x2F, 0x3E)  # the header bar
    assert len(set(_rgb(image))) > 50  # text and charts, not a blank or error page
    curves = driver.find_element(By.ID, "curves").screenshot_as_png
    assert _colour_share(curves, TRAINING_BLUE) > 0.003  # the training curve is drawn
    assert _colour_share(curves, VALIDATION_RED) > 0.0005  # and the validation one

    # Two runs compared: tick both on the runs table
    driver.get(url + "/")
    for execution in (first, second):
        driver.find_element(By.CSS_SELECTOR, f'input[value="{execution}"]').click()
    driver.find_element(By.ID, "compare").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "comparison"))
    assert "Decision metric contains match: " in driver.find_element(By.ID, "difference").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#comparison tbody tr")) >= 4


def test_the_run_browser_is_read_only_and_on_loopback(
    e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDROCK_CUSTOMIZE_ENDPOINTS", str(e2e.runtime.write_endpoints(tmp_path / "endpoints.json")))
    server, url = serve_in_background(StackSource(connect(offline=True)))
    try:
        assert server.server_address[0] == "127.0.0.1"
        for method in ("POST", "PUT", "DELETE"):
            request = urllib.request.Request(url + "/", data=b"{}", method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request)
            assert refused.value.code == 405
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "/run/no-such-run")
        assert missing.value.code == 404
        assert "no run 'no-such-run' in the offline stack" in html.unescape(missing.value.read().decode())
    finally:
        server.shutdown()
        server.server_close()
