"""Shared fixtures: an isolated runs folder, a training engine, a live `streamlit run`
server on loopback, and a headless Debian Chromium driven by Playwright.

Browser tests are marked ``browser``. Without /usr/bin/chromium they are skipped,
except under CI (``CI=true``), where a missing browser is a failure.
"""
from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "artifacts"          # screenshots of browser tests (git-ignored)
# how often a browser test's `wait_for_function` checks its condition: Playwright's default,
# every animation frame, kept Chromium and the test process busy through every long wait
POLL_MS = 100

sys.path.insert(0, str(ROOT))

# One intra-op thread in every test process and in everything it starts (servers, kernels, CLI
# runs), as the app's workers train: two pytest-xdist workers share 2 cores, and a second
# OpenMP/BLAS thread of tiny tensor ops spins while the other worker holds the core (a module's
# small ops many times slower, the quick-start notebook's CPU doubled). Set before torch loads.
os.environ["OMP_NUM_THREADS"] = "1"


RAY_GROUP = "ray"


@pytest.hookimpl(tryfirst=True)          # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup``, pytest.ini).
    Each module's tests stay on one worker, so its module-scoped engines and servers start
    once; every test that uses the Ray cluster runs on one worker, so that only one process
    connects to it and at most one local cluster is started (``ray stop`` at its end stops
    every Ray process on the machine)."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))


def _group(item) -> str:
    spec = getattr(item, "callspec", None)
    ray_param = spec is not None and any(isinstance(v, str) and v == "ray" for v in spec.params.values())
    uses_ray = ray_param or "ray_cluster" in item.fixturenames or item.path.name == "test_ray_engine.py"
    return RAY_GROUP if uses_ray else item.path.name


class _LongGroupsFirst:
    """Long groups first: pytest-xdist hands the groups out in the order of the collected items
    (``--no-loadscope-reorder``: by default it hands out the groups with the most tests first,
    which put the one- and two-test browser modules, the longest, at the end of both workers).
    So: the Ray group, then the modules with a browser or slow test, then the many short ones,
    which fill both workers to the end. Last, after pytest's own reordering of the items."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        group = {i: _group(i) for i in items}
        slow = {group[i] for i in items if i.get_closest_marker("browser") or i.get_closest_marker("slow")}
        items.sort(key=lambda i: 0 if group[i] == RAY_GROUP else 1 if group[i] in slow else 2)


def pytest_configure(config):
    config.pluginmanager.register(_LongGroupsFirst(), "latent-explorer-long-groups-first")


def pytest_collection_finish(session):
    """Every test module is imported now (torch, Streamlit, altair: ~200k objects): move them
    out of the garbage collector's reach, as the app's server does at start-up
    (``explorer.ui.warmup.freeze_heap``), so that the in-process page tests' automatic full
    collections stop walking them (measured over 183 of them: 5.5 → 4.1 CPU-s of collections)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test writes users' runs to its own folder, never to the project's runs/."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(runs))
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "data-cache"))
    return runs


@pytest.fixture
def engine(tmp_path):
    """A private engine (max 2 jobs) over the test's runs folder, shut down afterwards."""
    from explorer.engine import Engine
    eng = Engine(tmp_path / "runs", max_jobs=2, snapshot_seconds=0.2, load_existing=False)
    yield eng
    eng.shutdown()


@pytest.fixture
def page_engine():
    """The process-wide engine that pages use under AppTest, over this test's runs folder,
    with no pre-started worker (start one only if the test trains), shut down afterwards."""
    from explorer.engine import Engine, set_engine
    old = set_engine(None)
    if old is not None:
        old.shutdown()
    eng = Engine(prestart=0, max_jobs=1, snapshot_seconds=0.5)
    set_engine(eng)
    yield eng
    eng.shutdown()
    set_engine(None)


def shared_page_engine(folder: Path, **options):
    """A generator for module-scoped fixtures: the process-wide engine the pages use, over
    ``folder`` (its worker started once: spawning workers is the slow part), with Streamlit's
    resource cache cleared before and after; the previous engine is put back at the end."""
    import streamlit as st

    from explorer.engine import Engine, set_engine
    st.cache_resource.clear()
    eng = Engine(folder, **options)
    old = set_engine(eng)
    yield eng
    eng.shutdown()
    set_engine(old)
    st.cache_resource.clear()


APP_ENTRY = Path(__file__).with_name("app_entry.py")


def app_test(page: str | Path = "home.py", **options):
    """An AppTest of one of the app's pages as a visitor opens it: ``app.py``'s menu and frame,
    then the page (through ``tests/app_entry.py``). ``page``: its script, from the project's
    root (``"pages/1_Train.py"``) or absolute; ``options`` go to ``AppTest.from_file``."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP_ENTRY), **options)
    return at if Path(page).name == "home.py" else switch_to(at, page)     # home: the default, at /


def switch_to(at, page: str | Path):
    """``at``'s next run opens another of the app's pages, as a click in the menu would. AppTest
    asks for that page on every later run too: after the app itself switched page
    (``st.switch_page``), the next ``run()`` comes back here."""
    return at.switch_page(os.path.relpath(ROOT / page, APP_ENTRY.parent))


def app_factory(page: str):
    """``make(**query)`` -> a fresh AppTest of ``page`` (:func:`app_test`) with the given query
    string; Streamlit's process-wide caches are cleared so the page sees this test's engine
    and runs folder."""
    import streamlit as st
    st.cache_resource.clear()
    st.cache_data.clear()

    def make(**query):
        at = app_test(page, default_timeout=120)
        at.query_params.update(query)
        return at
    return make


def assert_page_ok(at) -> None:
    """No exception and no error message on an AppTest page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def global_engine():
    """The process-wide engine that pages use under AppTest; shut down afterwards so no
    background work outlives the test (AppTest does not stop it)."""
    from explorer.engine import get_engine, set_engine
    yield get_engine()
    old = set_engine(None)
    if old is not None:
        old.shutdown()


def folder_items(folder: Path) -> list[Path]:
    """What a folder holds, less the runs folder's own index (``.index.sqlite*``)."""
    return sorted(p for p in Path(folder).iterdir() if not p.name.startswith(".index.sqlite"))


# ------------------------------------------------------------------ run zips

def replaced_members(members: dict[str, bytes], **changes) -> dict[str, bytes]:
    """A copy of a zip's members with some replaced: ``config__json=b"..."`` replaces
    config.json (``__`` stands for ``.``); a value of None removes the member."""
    out = dict(members)
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            out.pop(name)
        else:
            out[name] = value
    return out


# ------------------------------------------------------------------ live server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path, runs: Path):
        self.url, self.proc, self.log, self.runs = url, proc, log, runs   # runs: its runs folder

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 120) -> str:
        """The server's log once it holds ``text`` (fails after ``timeout`` seconds)."""
        t_end = time.time() + timeout
        while text not in (log := self.log_text()) and time.time() < t_end:
            time.sleep(0.2)
        assert text in log, log[-3000:]
        return log


def start_server(tmp_path: Path, env_extra: dict | None = None, timeout: float = 60) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update({"LATENT_EXPLORER_RUNS": str(tmp_path / "runs"), "PYTHONUNBUFFERED": "1"})
    env.update(env_extra or {})
    runs = Path(env["LATENT_EXPLORER_RUNS"])
    log = tmp_path / f"streamlit-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t_end = time.time() + timeout
    while time.time() < t_end:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return Server(url, proc, log, runs)
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


def _serve(folder: Path):
    s = start_server(folder, {"LATENT_EXPLORER_MAX_JOBS": "2"})
    yield s
    stop_server(s)


@pytest.fixture
def server(tmp_path):
    """`streamlit run app.py` on a free loopback port, with its own runs folder."""
    yield from _serve(tmp_path)


def module_server(tmp_path_factory, name: str):
    """The ``server`` fixture's server, for a module whose tests can share one (none needs a
    runs folder of its own): ``yield from module_server(tmp_path_factory, "name")`` in a
    module-scoped fixture pays the server's start-up once per module."""
    yield from _serve(tmp_path_factory.mktemp(name))


def server_pool():
    """A dict of servers kept by :func:`reused_server`, for a fixture to ``yield from``: the
    servers still in it are stopped when the fixture ends."""
    pool: dict[str, Server] = {}
    yield pool
    for key in list(pool):
        stop_server(pool.pop(key))


@pytest.fixture(scope="session")
def _shared_servers():
    """The test process's shared server (:func:`shared_server`), stopped at the session's end."""
    yield from server_pool()


def reused_server(pool: dict, key: str, start, request):
    """``pool[key]``, a server kept across tests (``start()`` makes one when there is none or it
    died), for a fixture to ``yield from``: stopped and dropped from the pool when a test failed
    while it was in use (a failure may leave a run training or holding a job slot), so the next
    user starts a fresh one."""
    s = pool.get(key)
    if s is None or s.proc.poll() is not None:
        s = pool[key] = start()
    failed = request.session.testsfailed
    yield s
    if request.session.testsfailed > failed:
        stop_server(pool.pop(key))


@pytest.fixture(scope="module")
def shared_server(request, _shared_servers, tmp_path_factory):
    """The ``server`` fixture's server (default settings), one per test process for every module
    that asks for it: a start of `streamlit run` (~9 CPU-s with its pre-started worker) paid once
    instead of once per module. For modules whose tests leave nothing behind that another
    module could see: every run they start is stopped or finished before the test ends, no tab
    is left open, and they find their own runs by id (``server.runs``), never by counting the
    folder. After a module with a failed test the server is stopped (a failure may leave a run
    training), so the next module starts a fresh one (:func:`reused_server`)."""
    yield from reused_server(_shared_servers, "server", lambda: start_server(
        tmp_path_factory.mktemp("shared_server"), {"LATENT_EXPLORER_MAX_JOBS": "2"}), request)


# --------------------------------------------------------------------- browser

def _need_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")


def launch_profile(playwright, folder: Path, width: int = 1400, height: int = 1000):
    """A fresh Chromium profile (a persistent context in ``folder``), headless, whose pages
    record what :func:`wait_for_app` waits on (:data:`SCRIPT_RUNS`)."""
    ctx = playwright.chromium.launch_persistent_context(
        str(folder), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height})
    ctx.add_init_script(SCRIPT_RUNS)
    return ctx


@pytest.fixture
def browser_context(tmp_path):
    """A fresh Chromium profile (persistent context), headless, 1400x1000."""
    _need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        ctx = launch_profile(p, tmp_path / "profile")
        yield ctx
        ctx.close()


def module_profile(tmp_path_factory, name: str):
    """The ``browser_context`` fixture's profile, for a module whose tests can be one person (none
    needs a fresh cookie): ``yield from module_profile(tmp_path_factory, "name")`` in a
    module-scoped fixture launches Chromium once per module (a launch with its driver ~2.5 CPU-s).
    Each test's tabs are closed after it (a tab left open keeps its page's polls running)."""
    _need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        ctx = launch_profile(p, tmp_path_factory.mktemp(name) / "profile")
        yield ctx
        ctx.close()


@pytest.fixture
def close_tabs(browser_context):
    """With :func:`module_profile` (``pytest.mark.usefixtures("close_tabs")``): after each test,
    every tab of the module's profile is closed."""
    yield
    for page in list(browser_context.pages):
        page.close()


@pytest.fixture
def two_profiles(tmp_path):
    """Two separate Chromium profiles: two people on one server."""
    _need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        a, b = launch_profile(p, tmp_path / "profile-a"), launch_profile(p, tmp_path / "profile-b")
        yield a, b
        a.close()
        b.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/ (look at them!)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# When the page last sent the server a message and when a script run last started or ended,
# recorded in every page of a test profile (an init script, before Streamlit's own code). A
# click or a key sends a message at once, but the page marks the rerun it asks for only when
# the server starts it: a run started after the last message is that rerun (or one before it).
SCRIPT_RUNS = """(() => {
  const t = window.__leRuns = {sent: -1e9, started: -1e9, changed: performance.now(), state: ''};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (...a) { t.sent = performance.now(); return send.apply(this, a); };
  new MutationObserver(() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const s = app ? app.dataset.testScriptState : '';
    if (s === t.state) return;
    t.state = s; t.changed = performance.now();
    if (s === 'running') t.started = t.changed;
  }).observe(document, {subtree: true, childList: true, attributes: true,
                        attributeFilter: ['data-test-script-state']});
})()"""
QUIET_MS = 100        # a finished run this long ago: a rerun the server queued behind it has begun
NO_RERUN_MS = 300     # a message with no run started this long after it asked for none


def wait_for_app(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has rendered and finished the script run the last click or key
    asked for: no run going, one started since the page's last message to the server (or none
    within :data:`NO_RERUN_MS` of it), and none for :data:`QUIET_MS` (a page whose profile was
    not made by :func:`launch_profile` waits those 300 ms after its run, as before)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(
        """([quiet, none]) => {
          const app = document.querySelector('[data-testid="stApp"]');
          if (!app) return false;
          const s = app.dataset.testScriptState, t = window.__leRuns, now = performance.now();
          if (s === 'running' || s === 'rerunRequested') return false;
          if (!t) return true;                                  // not a test profile's page
          if (t.started < 0) return false;                      // its first run has not begun
          if (t.started < t.sent && now - t.sent < none) return false;   // asked for, not begun
          return now - t.changed >= quiet;
        }""", arg=[QUIET_MS, NO_RERUN_MS], timeout=timeout, polling=POLL_MS)
    if page.evaluate("() => !window.__leRuns"):
        page.wait_for_timeout(NO_RERUN_MS)


def open_tab(page, tab: str, showing: str, timeout: float = 60_000):
    """Click the Streamlit tab ``tab`` until the text ``showing`` (in it) is visible, and return
    that text's locator: a rerun that redraws the tabs while the click lands can leave the first
    tab selected, so the click is repeated (up to three times) while the text is not shown."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    wanted = page.get_by_text(showing).first
    for attempt in range(3):
        page.get_by_role("tab", name=tab).click()
        try:
            wanted.wait_for(timeout=timeout / 3)
            return wanted
        except PlaywrightTimeout:
            if attempt == 2:
                raise


# The step a Train page's progress line shows ("step 1,234 / 18,000 · …"), or -1 without one.
PROGRESS_STEP = """() => {
  const m = (document.querySelector('[data-testid="stProgress"]')?.innerText || '').match(/step ([\\d,]+) \\//);
  return m ? parseInt(m[1].replace(/,/g, '')) : -1;
}"""


def progress_step(page) -> int:
    """The step ``page``'s progress line shows now (:data:`PROGRESS_STEP`)."""
    return page.evaluate(PROGRESS_STEP)


def wait_for_step_past(page, step: int, timeout: float = 60_000) -> None:
    """Wait until ``page``'s progress line shows a step past ``step``."""
    page.wait_for_function(f"s0 => ({PROGRESS_STEP})() > s0", arg=step, timeout=timeout, polling=POLL_MS)


def choose(page, select, option: str, exact: bool = False) -> None:
    """Pick ``option`` in the Streamlit selectbox ``select`` (a locator): open its list and click
    the option; a late rerun can close the list again, so it is opened up to three times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    wanted = page.get_by_role("option", name=option, exact=exact)
    for attempt in range(3):
        select.locator('[role="combobox"], input').first.click()
        try:
            wanted.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            wait_for_app(page)
    wanted.click()


PAINTED = "n => new Promise(r => { const f = k => k ? requestAnimationFrame(() => f(k - 1)) : r(); f(n); })"


def painted(page, frames: int = 2) -> None:
    """Wait until the browser has drawn ``frames`` more animation frames: what was changed
    before this call is on the screen (instead of a fixed sleep)."""
    page.evaluate(PAINTED, frames)


# What a screen has not drawn yet after Streamlit's script run ('' once all is drawn): the run
# itself (Streamlit's own flag on stApp, not a pause); an element still a skeleton (its code
# loading); a visible Vega-Lite chart without its SVG or canvas; a visible plotly chart without
# its laid-out figure, its SVG trace groups, WebGL canvas or images; an image not loaded; an
# iframe's document not complete; a components-v2 element (the latent plane) not drawn into its
# shadow root, or a latent plane without its first decoded image.
UNSETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.dataset.testScriptState !== 'notRunning' || app.dataset.testConnectionState !== 'CONNECTED')
    return 'the script run: ' + (app ? app.dataset.testScriptState + ' ' + app.dataset.testConnectionState : 'no app');
  const shown = e => e.offsetParent !== null && e.getBoundingClientRect().width > 0;
  // an element whose code is still loading (plotly, tables) stands in as a skeleton
  if ([...document.querySelectorAll('[data-testid="stSkeleton"]')].some(shown)) return 'a skeleton';
  const vega = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(shown);
  if (!vega.every(c => c.querySelector('svg, canvas'))) return 'a Vega-Lite chart';
  for (const c of [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(shown)) {
    const d = c.querySelector('.js-plotly-plot');
    if (!d || !d._fullLayout || !d._fullData || !d.querySelector('.main-svg')) return 'a plotly chart';
    const kinds = d._fullData.filter(t => t.visible !== false).map(t => String(t.type));
    if (d.querySelectorAll('.scatterlayer .trace').length < kinds.filter(k => k === 'scatter').length)
      return 'the traces of a plotly chart';
    if (kinds.some(k => k.endsWith('gl')) && !d.querySelector('canvas.gl-canvas-context')) return 'a WebGL trace';
    if (kinds.some(k => k === 'image' || k === 'heatmap') && !d.querySelector('.main-svg image')) return 'a plotly image';
    if ((d.layout.images || []).length > d.querySelectorAll('.main-svg image').length) return 'a layout image';
  }
  const imgs = [...document.querySelectorAll('[data-testid="stMain"] img')].filter(shown);
  if (!imgs.every(i => i.complete && i.naturalWidth > 0)) return 'an image';
  for (const f of document.querySelectorAll('iframe')) {
    let doc = null;
    try { doc = f.contentDocument; } catch (e) { doc = null; }     // another origin: Playwright waits
    if (doc && (doc.readyState !== 'complete' || !doc.body || !doc.body.childElementCount)) return 'an iframe';
  }
  for (const h of [...document.querySelectorAll('[data-testid^="stBidiComponent"]')].filter(shown)) {
    const host = h.shadowRoot ? h : [...h.querySelectorAll('*')].find(e => e.shadowRoot);
    const root = host ? host.shadowRoot : h;
    const drawn = [...root.querySelectorAll('canvas, svg, img, button, input')].some(e => e.getBoundingClientRect().width > 0);
    if (!drawn) return 'a component';
    const img = root.querySelector('canvas.lp-image');
    if (img && img.dataset.decoded !== 'browser') return 'the decoded image of a latent plane';
  }
  return '';
}"""


def wait_settled(page, timeout: float = 60_000) -> None:
    """Streamlit has finished its script run and everything it drew is on the screen
    (:data:`UNSETTLED` says what is not yet), then two more frames painted. Before a
    screenshot: no fixed sleep, the real condition."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    wait_for_app(page, timeout)
    for frame in page.frames[1:]:                 # iframes (of any origin) have loaded
        frame.wait_for_load_state("load", timeout=timeout)
    try:
        page.wait_for_function(f"() => !({UNSETTLED})()", timeout=timeout, polling=POLL_MS)
    except PlaywrightTimeout:
        raise AssertionError(f"{page.url} not drawn after {timeout / 1000:.0f} s: still waiting for "
                             f"{page.evaluate(UNSETTLED)}") from None
    painted(page)


def open_app(ctx, url: str):
    """A new tab of ``ctx`` at ``url``, rendered, with no error on it."""
    page = ctx.new_page()
    page.goto(url)
    wait_for_app(page)
    assert_no_error(page)
    return page


def assert_no_error(page) -> None:
    """No exception box and no error alert anywhere on the page."""
    for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        assert page.locator(sel).count() == 0, page.locator(sel).first.inner_text()



# ------------------------------------------------------------------ Ray cluster

RAY_ENV = "LATENT_EXPLORER_TEST_RAY_ADDRESS"      # .ci/run exports its cluster's address here


@pytest.fixture(scope="session")
def ray_cluster():
    """The address of a running Ray cluster: CI's (``$LATENT_EXPLORER_TEST_RAY_ADDRESS``, set
    by .ci/run), else one this session starts with ``ray start`` and stops at its end. The
    test process connects to it once (Ray allows one cluster per process)."""
    pytest.importorskip("ray")
    from explorer.engine.backend_ray import connect, start_local_cluster, stop_local_cluster
    address = os.environ.get(RAY_ENV)
    started = not address
    if started:
        import tempfile
        address = start_local_cluster(Path(tempfile.mkdtemp(prefix="le-ray-", dir="/tmp")))
        os.environ[RAY_ENV] = address
    connect(address, "latent-explorer-tests")
    yield address
    import ray
    ray.shutdown()
    if started:
        stop_local_cluster()
        os.environ.pop(RAY_ENV, None)
