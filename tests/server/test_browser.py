"""A person's path through the web app in a real headless browser (Debian's chromium driven by Playwright):
fill the form leaving answers unknown, upload the demo recording, wait for the letter, read the decision, check
that no table cell's content overflows into the next column, download the PDF. Skipped locally without chromium;
required under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def _need_browser() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright", reason="playwright (test extra) drives the browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    _need_browser()
    port = _free_port()
    data = tmp_path_factory.mktemp("browser") / "data"
    command = [
        sys.executable,
        "-c",
        "from cds.cli import main; main()",
        "serve",
        "--dev",
        "--port",
        str(port),
        "--data-dir",
        str(data),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from cds.synth import SynthConfig, write_synthetic_psg

    path = tmp_path_factory.mktemp("rec") / "demo-night.edf"
    write_synthetic_psg(path, SynthConfig.preset("demo").replace(hours=1.0), seed=1)  # the `cds demo` night, 1 h
    return path


def test_form_with_unknowns_and_a_recording_gives_a_letter_whose_cells_do_not_overlap(served, recording, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, headless=True, accept_downloads=True
        )
        page = browser.new_page()
        page.goto(served + "/triage/new")
        page.fill("#f-id", "WEB-0001")
        page.fill("#f-age", "58")
        page.check('input[name="symptoms.jerks_during_sleep"][value="yes"]')  # everything else stays unknown
        page.set_input_files("#f-recording", str(recording))
        page.click('button[value="run"]')
        page.wait_for_selector("#progress")
        page.wait_for_url("**/results/*", timeout=120_000)
        decision = page.inner_text("#decision-summary")
        assert "What to do first:" in decision
        letter = browser.new_page()
        letter.goto(page.url + "/letter.html")
        assert "WEB-0001" in letter.inner_text(".meta") and "58 years" in letter.inner_text(".meta")
        overflow = letter.evaluate("""() => [...document.querySelectorAll('table td')].flatMap(td => {
            const cell = td.getBoundingClientRect();
            return [...td.querySelectorAll('span, div, strong, code, a')].filter(el => {
              const r = el.getBoundingClientRect();
              return r.width > 0 && (r.right > cell.right + 0.5 || r.left < cell.left - 0.5);
            }).map(el => el.textContent.trim());
        })""")
        assert overflow == [], f"content outside its table cell: {overflow[:5]}"
        assert letter.locator("table.treatments .badge").count() > 0  # the badges were checked
        try:
            import weasyprint  # noqa: F401
        except (ImportError, OSError):
            pytest.skip("the PDF part needs the pdf extra (WeasyPrint); the letter part passed")
        with page.expect_download() as download:
            page.click("#pdf-link")
        pdf = download.value.path().read_bytes()
        assert pdf.startswith(b"%PDF-")
        browser.close()
