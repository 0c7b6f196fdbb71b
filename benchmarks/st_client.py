"""A minimal client of Streamlit's own websocket protocol, for load tests.

A browser session of a Streamlit app is one websocket (``/_stcore/stream``) carrying
protobuf messages: the client sends ``BackMsg.rerun_script`` (the page, the query string
and every widget's value) and the server answers with ``ForwardMsg``s — a ``new_session``,
element ``delta``s, ``auto_rerun`` requests from ``st.fragment(run_every=…)`` and a
``script_finished``. This module speaks that protocol without a browser, so a load test can
put twenty sessions on a 2-core server and measure the server, not twenty Chromium
renderers competing with it for the same cores.

What it does, as the browser's frontend would:

* navigation: ``open(page, query)`` reruns the app on that page (by its URL path) with a
  fresh widget state; the elements of the finished run replace the previous ones;
* widgets: ``set_slider``, ``click`` and ``set_number`` send the new widget state — for a
  widget inside a fragment, as a rerun of that fragment alone;
* ``auto_rerun``: the fragments' timers are honoured (``is_auto_rerun``), so a session that
  sits on the Train page polls the server like a browser tab does;
* images: after a run, the ``st.image`` URLs it produced are fetched (``/media/…``).

It does not render anything and keeps only the latest element at each position.
"""
from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}


class ClientError(RuntimeError):
    """The server closed the session, a run failed, or an expected element is missing."""


@dataclass
class Item:
    """One element on the page: its kind (``slider``, ``button``, ``imgs``, ``markdown``…),
    its protobuf, the fragment it belongs to and the run that last drew it."""
    kind: str
    proto: object
    fragment_id: str
    run_id: str


@dataclass
class RunResult:
    seconds: float
    status: int
    errors: list[str] = field(default_factory=list)


class Session:
    """One browser session of the app at ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, *, fetch_media: bool = True, cookies: dict | None = None):
        self.base_url = base_url.rstrip("/")
        self.fetch_media = fetch_media
        self.cookies = dict(cookies or {})      # sent with the websocket's handshake, as a
                                                 # browser sends its cookies (st.context.cookies)
        self.ws = None
        self.pages: dict[str, str] = {}          # url path -> page script hash
        self.page = ""
        self.query = ""
        self.items: dict[tuple, Item] = {}
        self.widgets: dict[str, WidgetState] = {}
        self.auto: dict[str, float] = {}         # fragment id -> interval (s)
        self._auto_tasks: dict[str, asyncio.Task] = {}   # one timer per fragment
        self._finished: asyncio.Queue = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._busy = asyncio.Lock()
        self.closed_reason: str | None = None
        self.auto_runs = 0
        self.superseded_images = 0              # 404s of images a newer run had replaced
        self._loaded: set[str] = set()          # image URLs fetched once: a browser keeps them
        self._run = ""
        self.navigated_at: float | None = None  # when the server last moved this session to
                                                 # another page (st.switch_page) or query
        self.query_log: list[tuple[float, str]] = []    # (when, query) the server set

    # ----------------------------------------------------------- connection
    async def connect(self) -> None:
        url = "ws" + self.base_url[len("http"):] + "/_stcore/stream"
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else None
        self.ws = await websockets.connect(url, subprotocols=["streamlit"], max_size=None,
                                           open_timeout=60, ping_interval=None,
                                           additional_headers=headers)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self._stop_auto()
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except websockets.ConnectionClosed as e:
            self.closed_reason = f"websocket closed ({e.code})"
        except Exception as e:  # noqa: BLE001 - reported by the waiting call
            self.closed_reason = f"{type(e).__name__}: {e}"
        finally:
            self._finished.put_nowait(None)

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":        # the start of a run
            h = msg.new_session.page_script_hash  # the server switched pages (st.switch_page)
            path = next((p for p, ph in self.pages.items() if ph == h), None)
            if h and path is not None and path != self.page:
                self.page, self.navigated_at = path, time.perf_counter()
            if not msg.metadata.run.fragment_ids:      # a full run, not a fragment's
                self._run = msg.metadata.run.script_run_id
                self._stop_auto()        # the run re-registers the fragments that still poll
        elif kind == "page_info_changed":         # the server changed the URL's query
            self.query, self.navigated_at = msg.page_info_changed.query_string, time.perf_counter()
            self.query_log.append((self.navigated_at, self.query))
        elif kind == "navigation":
            for p in msg.navigation.app_pages:
                self.pages[p.url_pathname] = p.page_script_hash
        elif kind == "delta":
            d = msg.delta
            if d.WhichOneof("type") == "new_element":
                el = d.new_element
                self.items[tuple(msg.metadata.delta_path)] = Item(
                    el.WhichOneof("type"), getattr(el, el.WhichOneof("type")), d.fragment_id, self._run)
        elif kind == "auto_rerun":
            self.auto[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            self._start_auto(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                # a full run redraws the page: what it did not draw is gone
                self.items = {k: v for k, v in self.items.items() if v.run_id == self._run}
            self._finished.put_nowait((self._run, msg.script_finished))

    # ------------------------------------------------------------- reruns
    async def _send_rerun(self, fragment_id: str = "", is_auto: bool = False) -> None:
        back = BackMsg()
        cs = back.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.pages.get(self.page, "")
        cs.page_name = self.page
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = is_auto
        cs.widget_states.widgets.extend(self.widgets.values())
        await self.ws.send(back.SerializeToString())

    async def rerun(self, fragment_id: str = "", timeout: float = 120.0) -> RunResult:
        """Send a rerun (of one fragment, or the page) and wait for it to finish; then fetch
        the images it drew. Returns the time from sending to the last image fetched."""
        async with self._busy:
            while not self._finished.empty():
                self._finished.get_nowait()
            t0 = time.perf_counter()
            await self._send_rerun(fragment_id)
            t_end = t0 + timeout
            while True:
                left = t_end - time.perf_counter()
                if left <= 0:
                    raise ClientError(f"no script_finished within {timeout:.0f} s")
                got = await asyncio.wait_for(self._finished.get(), left)
                if got is None:
                    raise ClientError(self.closed_reason or "session closed")
                _, status = got
                if status in FINISHED or status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    break
            if self.fetch_media:
                await self._fetch_images()
            return RunResult(time.perf_counter() - t0, status, self.page_errors())

    async def open(self, page: str = "", query: str = "", timeout: float = 120.0) -> RunResult:
        """Navigate to a page (its URL path, "" for the home page) with a fresh widget state."""
        if self.ws is None:
            await self.connect()
        self._stop_auto()
        self.page, self.query = page, query
        self.widgets = {}
        self.items = {}
        return await self.rerun(timeout=timeout)

    def _start_auto(self, fragment_id: str, interval: float) -> None:
        """(Re)arm the fragment's timer: a fragment's every run re-announces it."""
        old = self._auto_tasks.get(fragment_id)
        if old is not None and not old.done() and getattr(old, "interval", None) == interval:
            return

        async def tick():
            while True:
                await asyncio.sleep(interval)
                if self._busy.locked() or self.ws is None:
                    continue        # a browser defers its timer while a run is pending, too
                try:
                    await self._send_rerun(fragment_id, is_auto=True)
                    self.auto_runs += 1
                except websockets.ConnectionClosed:
                    return
        if old is not None:
            old.cancel()
        task = asyncio.create_task(tick())
        task.interval = interval
        self._auto_tasks[fragment_id] = task

    def _stop_auto(self) -> None:
        for t in self._auto_tasks.values():
            t.cancel()
        self._auto_tasks, self.auto = {}, {}

    def _image_urls(self) -> list[str]:
        return [img.url for it in self.items.values() if it.kind == "imgs" for img in it.proto.imgs
                if img.url.startswith("/media/")]

    async def _fetch_images(self) -> None:
        """Fetch the page's images, as the browser does. An image that another fragment's
        run replaced meanwhile (its timer fired during the fetch) is gone from the server,
        and from the page too: a browser then loads the new one. A 404 counts only if the
        page still shows that image. Like a browser, an image already loaded is not fetched
        again (an interrupted run leaves the page's earlier images up, their files may be gone)."""
        if len(self._loaded) > 10_000:
            self._loaded.clear()
        for u in self._image_urls():
            if u in self._loaded:
                continue
            try:
                await asyncio.to_thread(_get, self.base_url + u)
                self._loaded.add(u)
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
                await asyncio.sleep(0.3)           # the replacing run's deltas are on their way
                if u in self._image_urls():
                    raise ClientError(f"image {u} on the page is missing on the server (404)") from None
                self.superseded_images += 1

    # ------------------------------------------------------------ elements
    def find(self, kind: str, label: str = "", *, caption: str = "") -> Item:
        """The first element of ``kind`` whose label (or image caption) starts with the text."""
        for path in sorted(self.items):
            it = self.items[path]
            if it.kind != kind:
                continue
            if caption and not any(i.caption.startswith(caption) for i in it.proto.imgs):
                continue
            if label and not getattr(it.proto, "label", "").startswith(label):
                continue
            return it
        raise ClientError(f"no {kind} {label or caption!r} on page {self.page or 'home'!r}")

    def texts(self) -> list[str]:
        """The text of every markdown, caption, alert and progress-bar element."""
        return [it.proto.text if it.kind == "progress" else getattr(it.proto, "body", "")
                for it in self.items.values() if it.kind in ("markdown", "alert", "text", "progress")]

    def image_caption(self, prefix: str) -> str:
        it = self.find("imgs", caption=prefix)
        return next(i.caption for i in it.proto.imgs if i.caption.startswith(prefix))

    def page_errors(self) -> list[str]:
        """Exceptions and ``st.error`` messages on the page."""
        out = []
        for it in self.items.values():
            if it.kind == "exception":
                out.append(f"exception: {it.proto.type}: {it.proto.message[:120]}")
            elif it.kind == "alert" and it.proto.format == it.proto.ERROR:
                out.append(f"error: {it.proto.body[:120]}")
        return out

    # ------------------------------------------------------------- widgets
    async def set_slider(self, label: str, value: float) -> RunResult:
        it = self.find("slider", label)
        ws = WidgetState(id=it.proto.id)
        ws.double_array_value.data.append(float(value))
        self.widgets[it.proto.id] = ws
        return await self.rerun(fragment_id=it.fragment_id)

    async def set_number(self, label: str, value: float) -> RunResult:
        it = self.stage_number(label, value)
        return await self.rerun(fragment_id=it.fragment_id)

    def stage_text(self, label: str, value: str) -> None:
        """Type into a text input without a rerun (a form's widgets are sent on submit)."""
        it = self.find("text_input", label)
        self.widgets[it.proto.id] = WidgetState(id=it.proto.id, string_value=value)

    def stage_number(self, label: str, value: float) -> Item:
        """Set a number input without a rerun; returns its element."""
        it = self.find("number_input", label)
        ws = WidgetState(id=it.proto.id)
        if it.proto.data_type == it.proto.INT:
            ws.int_value = int(value)
        else:
            ws.double_value = float(value)
        self.widgets[it.proto.id] = ws
        return it

    def stage_choice(self, kind: str, label: str, option: str) -> None:
        """Pick an option of a selectbox or radio (``kind``) by its shown text, without a rerun."""
        it = self.find(kind, label)
        self.widgets[it.proto.id] = WidgetState(id=it.proto.id, string_value=option)

    async def click(self, label: str) -> RunResult:
        it = self.find("button", label)
        self.widgets[it.proto.id] = WidgetState(id=it.proto.id, trigger_value=True)
        try:
            return await self.rerun(fragment_id=it.fragment_id)
        finally:
            self.widgets.pop(it.proto.id, None)   # a trigger fires once


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as r:
        return len(r.read())
