"""The notebook as a student sees it: JupyterLab in a real browser (Debian's Chromium driven by
Playwright), on 127.0.0.1 only, started and stopped here.

1. The committed notebook opened untrusted, as every notebook from another machine is: every plot and
   animation renders and shows what it should, no cell shows an error, no progress bar reads 0%; the tables
   render with one line per row and each method's swatch in its figure colour; the explorer's saved note tells
   the reader what running the cell gives.
2. Run All in quick mode: no error, the training bar is a live widget that reaches 100%, the
   adaptation explorer draws its controls, and changing one and pressing the button gives a new result.

A failing check saves a screenshot and names it in the failure message. The browser is
``/usr/bin/chromium`` (``.ci/run`` installs it; Playwright's own browser download is not used). Without
it the tests are skipped, unless ``HW14_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO

NOTEBOOK = REPO / "Notebooks" / "HW14_MAML.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # this machine has no network: no update or sync connections
    "--disable-component-update",
    "--disable-sync",
]
START_S, RUN_ALL_S = 120, 600
PAGE_PARTS = {
    "notebooks": ".jp-NotebookPanel",
    "cells": ".jp-Notebook .jp-Cell",
    "outputs": ".jp-OutputArea-output",
    "images": ".jp-OutputArea-output img",
}

if not CHROMIUM.is_file():
    if os.environ.get("HW14_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing; install Debian's chromium package (.ci/run does)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """JupyterLab serving a folder with two copies of the committed notebook (one to read, one to run),
    its kernels in quick mode, with fresh Jupyter folders (so no notebook is trusted) and no token."""
    root = tmp_path_factory.mktemp("lab")
    for name in ("committed", "run"):
        (root / name).mkdir()
        shutil.copyfile(NOTEBOOK, root / name / NOTEBOOK.name)
    home = tmp_path_factory.mktemp("jupyter")
    env = {
        **os.environ,
        "HW14_QUICK": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),  # an empty signature database: the notebook is untrusted
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    # the project's settings (`make lab`: no news pop-up over the cells), and for the test every cell drawn (not
    # only those near the viewport) and the kernel started without asking
    shutil.copytree(REPO / ".jupyterlab" / "user-settings", home / "settings", ignore=shutil.ignore_patterns(".*"))
    settings = home / "settings" / "@jupyterlab"
    for extension, name, values in (
        ("notebook-extension", "tracker", {"windowingMode": "none", "autoStartDefaultKernel": True}),
    ):
        (settings / extension).mkdir(parents=True, exist_ok=True)
        (settings / extension / f"{name}.jupyterlab-settings").write_text(json.dumps(values), encoding="utf-8")
    env.pop("HW14_WORK_DIR", None)
    env.pop("HW14_WIDGETS", None)
    port = free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}"]
    command += ["--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password="]
    command += [f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--LabApp.news_url=None"]
    command += ["--allow-root"] if os.geteuid() == 0 else []
    log = open(home / "lab.log", "w", encoding="utf-8")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, f"JupyterLab exited: {(home / 'lab.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.3)
        yield base, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def page(lab: tuple[str, Path], tmp_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


@contextlib.contextmanager
def screenshot_on_failure(page: object, path: Path) -> Iterator[None]:
    """Re-raise a failed check with a full-page screenshot saved at ``path`` and what the page holds
    (cells, outputs, dialogs: the screenshot stays on the machine that ran the test), in the message."""
    try:
        yield
    except Exception as exc:
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        count = {name: page.locator(css).count() for name, css in PAGE_PARTS.items()}  # type: ignore[attr-defined]
        dialogs = page.locator(".jp-Dialog").all_inner_texts()  # type: ignore[attr-defined]
        raise AssertionError(f"{exc}\npage: {count}, dialogs: {dialogs}\nscreenshot: {path}") from exc


def open_notebook(page: object, url: str) -> None:
    page.goto(url)  # type: ignore[attr-defined]
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=START_S * 1000)  # type: ignore[attr-defined]
    idle = page.get_by_text("Kernel status: Idle")  # type: ignore[attr-defined]  # the toolbar's (hidden) status
    idle.first.wait_for(state="attached", timeout=START_S * 1000)


def output_text(page: object) -> str:
    return "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())  # type: ignore[attr-defined]


def show_all_outputs(page: object) -> None:
    """Scroll every output into view, so lazily drawn images load."""
    outputs = page.locator(".jp-OutputArea-output")  # type: ignore[attr-defined]
    for i in range(outputs.count()):
        outputs.nth(i).scroll_into_view_if_needed()


def image_outputs(notebook: Path) -> int:
    """The number of outputs in the saved ``notebook`` that carry an image (PNG plots, GIF animations)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    return sum(any(mime.startswith("image/") for mime in output.get("data", {})) for output in outputs)


def wait_for_count(locator: object, expected: int, timeout_s: float = START_S) -> None:
    """Wait until ``locator`` matches ``expected`` elements; fail naming how many it found."""
    deadline = time.monotonic() + timeout_s
    while (found := locator.count()) != expected:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"{found} of {expected} images drawn after {timeout_s:.0f} s"
        time.sleep(0.5)


def cheetah_pixels_in(png: bytes) -> int:
    import numpy as np
    from PIL import Image

    from helpers import cheetah_pixels

    return cheetah_pixels(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))


def test_committed_notebook_renders_untrusted(lab: tuple[str, Path], page, tmp_path: Path) -> None:
    base, _ = lab
    open_notebook(page, f"{base}/lab/tree/committed/{NOTEBOOK.name}?reset")  # ?reset: no tabs of earlier tests
    with screenshot_on_failure(page, tmp_path / "committed.png"):
        images = page.locator(".jp-OutputArea-output img")
        expected = image_outputs(NOTEBOOK)
        assert expected >= 15, f"the committed notebook has {expected} images"
        wait_for_count(images, expected)  # a large notebook's outputs are drawn after its first cell
        show_all_outputs(page)
        for i in range(images.count()):
            image = images.nth(i)
            image.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        gifs = page.locator(".jp-OutputArea-output img[src^='data:image/gif']")
        assert gifs.count() == 3, f"{gifs.count()} animations"
        for i in range(gifs.count()):
            gif = gifs.nth(i)
            gif.scroll_into_view_if_needed()
            area = gif.bounding_box()
            assert area is not None and area["width"] >= 90, f"animation {i} is not drawn"
            assert cheetah_pixels_in(gif.screenshot()) >= 1e-3 * area["width"] * area["height"], f"animation {i}"
        assert page.locator("video").count() == 0
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        text = output_text(page)
        assert "Traceback" not in text and "Error displaying widget" not in text
        assert not re.search(r"(?<![\d.])0%\|", text), "a progress bar reads 0%"
        assert "meta-training: 100%" in text
        assert "Run this cell in JupyterLab" in text and "Open the notebook in" not in text  # the explorer's note
        check_tables(page)


def check_tables(page: object) -> None:
    """The notebook's HTML tables survive the untrusted notebook's sanitizer: the protocol table has a row per
    result, each one line high (no value wraps), and every method's swatch has the method's colour in the
    figures (:data:`hw14_lib.common.palette.METHOD_STYLES`)."""
    from matplotlib.colors import to_rgb

    from hw14_lib.common.palette import METHOD_STYLES

    tables = page.locator(".jp-OutputArea-output table")  # type: ignore[attr-defined]
    assert tables.count() >= 4, f"{tables.count()} tables (protocol, later steps x 2, extensions)"
    protocol = tables.filter(has_text="steps / seed").first
    protocol.scroll_into_view_if_needed()
    heights = protocol.locator("tbody tr").evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert len(heights) >= 30 and max(heights) < 1.5 * min(heights), heights  # one line per row
    swatches = page.locator(".jp-OutputArea-output table span[title]")  # type: ignore[attr-defined]
    colors = swatches.evaluate_all("spans => spans.map(s => [s.title, getComputedStyle(s).color])")
    import json

    in_table = {row["method"] for row in json.loads((REPO / "results" / "table.json").read_text(encoding="utf-8"))}
    assert {method for method, _ in colors} == in_table, colors
    for method, color in colors:
        rgb = tuple(round(255 * v) for v in to_rgb(METHOD_STYLES[method].color))
        assert color == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})", (method, color, rgb)


def test_run_all_in_quick_mode(lab: tuple[str, Path], page, tmp_path: Path) -> None:
    base, _ = lab
    open_notebook(page, f"{base}/lab/tree/run/{NOTEBOOK.name}?reset")
    with screenshot_on_failure(page, tmp_path / "run_all.png"):
        assert page.locator(".jp-NotebookPanel").count() == 1, "another notebook is open: Run All could run it"
        page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook has the focus
        page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt")
        deadline = time.monotonic() + RUN_ALL_S
        while True:  # every code cell has a number in its prompt (not [ ] or [*])
            texts = prompts.all_inner_texts()
            if texts and all(re.fullmatch(r"\[\d+\]:", t.strip()) for t in texts):
                break
            assert time.monotonic() < deadline, f"Run All did not finish: {sum('*' in t for t in texts)} running"
            time.sleep(1.0)
        show_all_outputs(page)
        text = output_text(page)
        assert "mode: quick (" in text
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        assert "Traceback" not in text
        bar = page.locator(".jp-OutputArea-output .widget-hprogress, .jp-OutputArea-output progress").first
        assert bar.count(), "the training progress bar is not a widget"
        label = page.locator(".jp-OutputArea-output .widget-html-content", has_text="meta-training").first
        assert "100%" in label.inner_text(), label.inner_text()

        forward = page.get_by_role("button", name="forward (d = +1)")
        forward.scroll_into_view_if_needed()
        assert page.get_by_text("later steps").count() and page.get_by_role("button", name="adapt and play").count()
        forward.click()
        page.get_by_role("button", name="adapt and play").click()
        explorer = page.locator(".widget-output").filter(has_text="task forward")
        explorer.first.wait_for(timeout=RUN_ALL_S * 1000)
        explorer.locator("img[src^='data:image/gif']").first.wait_for(timeout=60_000)
        assert "after 1 step: return" in explorer.first.inner_text()
