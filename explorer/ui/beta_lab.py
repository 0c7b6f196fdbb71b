"""The β lab's helpers: its sweeps as one view-model, the form of a new sweep, and the
pieces of the screen (pictures, the three measures, the details; the tour is
:mod:`explorer.ui.beta_tour`).

A sweep on the page is a :class:`SweepView`: the runs' final numbers (``summary.json``),
their measures (:mod:`explorer.analysis.beta.report`), validation curves and pictures.
A shipped sweep's measures were made at pretrain time and ship beside it
(``trained/sweeps/<name>/``), so it is drawn without loading a model; a live sweep's
runs are measured here as each one finishes (cached per weights file), on the run's
own data, with the same function and settings as ``sweep-report`` (one measurement,
one set of numbers).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from .. import data, settings, store
from ..analysis.beta import judge as beta_judge
from ..analysis.beta import reading as beta_reading
from ..analysis.beta import report as beta_report
from ..analysis.beta import sweep
from ..analysis import offload
from ..config import ConfigError, DataConfig, RunConfig
from ..engine import EngineError, Status
from ..figures import beta as beta_figures
from ..figures import describe
from . import chart_text, common

MANIFEST = store.SHIPPED_ROOT / "manifest.json"
DATASETS = {"digits": "8×8 digits (offline)", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST",
            "file": "your own data (.npz, .npy, .csv)"}
COLUMNS = ("input", "reconstruction", "prior sample", "nearest training image")


@dataclass
class SweepView:
    """Everything the page shows of a sweep (plain data)."""
    key: str
    members: list[dict]                         # beta, status, progress, reason, queue_position
    config: RunConfig | None = None
    n_train: int | None = None
    points: list[sweep.BetaPoint] = field(default_factory=list)
    measures: list[dict] = field(default_factory=list)
    curves: dict[float, dict] = field(default_factory=dict)
    seed_curves: dict[float, dict] = field(default_factory=dict)
    null: dict = field(default_factory=dict)
    inputs: np.ndarray | None = None
    images: dict[float, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)   # what makes a run not comparable

    @property
    def betas(self) -> list[float]:
        return sorted(m["beta"] for m in self.measures)

    @property
    def sweet(self) -> list[float]:
        """The β values whose samples are within two standard errors of the best."""
        return beta_report.sweet_spot(self.measures)

    def shown_curves(self, betas=None) -> dict[float, dict]:
        """The validation curves to draw: of ``betas`` (default all), without the runs whose
        q(z|x) is a point (their ELBO, thousands of nats below, would flatten the rest)."""
        point = {m["beta"] for m in self.measures if beta_reading.pointlike(m)}
        return {b: c for b, c in self.curves.items() if b not in point and (betas is None or b in betas)}

    @property
    def left_out(self) -> list[float]:
        return [m["beta"] for m in self.measures if beta_reading.pointlike(m)]

    @property
    def live(self) -> bool:
        return any(m["status"].live for m in self.members)


# =================================================================== the sweeps

def live_sweeps() -> dict[str, list[tuple[float, object]]]:
    """Sweeps started on this server (any session), by tag: the engine's runs whose names
    mark them as sweep runs."""
    return sweep.group_sweep_runs(common.engine().list(name_prefix=sweep.NAME_PREFIX))


def sweep_choices(me: str) -> dict[str, str]:
    """key -> label, shipped sweeps first, then live ones (yours marked)."""
    out = {}
    for name, ids in sweep.shipped_sweeps(MANIFEST).items():
        if (beta_report.shipped_folder(name) / beta_report.MEASURES).is_file():
            cfg = store.read_config(store.SHIPPED_ROOT / ids[0])
            out[f"shipped:{name}"] = (f"📦 shipped: {name} ({cfg.data.subset or 'all'} training images, "
                                      f"{cfg.model.latent_dim}-D latent, {len(ids)} β values)")
    for tag, runs in sorted(live_sweeps().items(), key=lambda kv: -max(e.created for _, e in kv[1])):
        cfg = runs[0][1].config
        who = "your" if any(e.owner == me for _, e in runs) else "another visitor's"
        # the label stays fixed while the runs progress (a selectbox keeps its first labels)
        out[f"live:{tag}"] = (f"🧪 {who} sweep {tag}: {cfg.data.name}, {cfg.data.subset or 'all'} "
                              f"training images, z={cfg.model.latent_dim}, {len(runs)} β values")
    return out


@st.cache_resource(max_entries=4, show_spinner=False)
def _measured(folder: str, mtime: float) -> beta_report.Measured | None:
    return beta_report.load(Path(folder))


def shipped_view(key: str, name: str) -> SweepView:
    """A shipped sweep: summaries from its run folders, the rest from its measures file."""
    folder = beta_report.shipped_folder(name)
    got = _measured(str(folder), (folder / beta_report.MEASURES).stat().st_mtime)
    if got is None:
        raise store.StoreError(f"{folder}: its measures are unreadable; rebuild them with "
                               f"`python -m explorer pretrain`")
    ids = sweep.shipped_sweeps(MANIFEST).get(name, [])
    summaries = [store.read_summary(store.SHIPPED_ROOT / i) for i in ids]
    cfg = store.read_config(store.SHIPPED_ROOT / ids[0])
    points = [sweep.point_from_summary(s, run_id=i) for s, i in zip(summaries, ids)]
    members = [{"beta": m["beta"], "status": Status.FINISHED} for m in got.measures]
    return SweepView(key=key, members=members, config=cfg, n_train=summaries[0].get("n_train"),
                     points=[p for p in points if p], measures=got.measures, curves=got.curves,
                     seed_curves=got.seed_curves, null=got.null, inputs=got.inputs, images=got.images)


@st.cache_resource(max_entries=4, show_spinner="Training the classifier that judges the samples…")
def _live_probe(data_json: str) -> tuple[beta_report.Probe, np.ndarray]:
    cfg = DataConfig(**json.loads(data_json))
    ds = data.load(cfg, max_bytes=settings.get().dataset_bytes)
    pool = data.load(beta_report.pool_config(cfg), max_bytes=settings.get().dataset_bytes)
    judge = info = None
    if beta_report.judgeable(ds.x_train, pool.y_train, ds.y_val):    # trained outside the server
        judge, info = offload.train_judge(pool.x_train, pool.y_train,
                                          n_classes=beta_report.judge_classes(pool.y_train, ds.y_val))
    probe = beta_report.make_probe(ds.x_train, ds.y_train, ds.x_val, ds.y_val,
                                   pool=(pool.x_train, pool.y_train), judge=judge, judge_info=info)
    return probe, probe.x_val[probe.show].numpy()


@st.cache_resource(max_entries=48, show_spinner="Measuring a finished run…")
def _live_measure(run_dir: str, mtime: float, data_json: str, beta: float, seed: int):
    probe, _ = _live_probe(data_json)
    with beta_judge.one_thread():       # as sweep-report measures it: the same numbers
        return beta_report.measure_run(common.load_model(Path(run_dir)), probe, beta=beta, seed=seed)


@st.cache_data(max_entries=64, show_spinner=False)
def _disk_curve(run_dir: str, mtime: float) -> dict:
    return beta_report.val_curve(store.read_metrics(Path(run_dir)))


def live_view(key: str, tag: str) -> SweepView:
    """A sweep started here: its runs from the engine, each measured once it finished."""
    eng = common.engine()
    pairs = live_sweeps().get(tag, [])
    runs: list[dict] = []
    view = SweepView(key=key, members=[{"beta": b, "status": e.status, "progress": e.progress,
                                        "reason": e.reason, "queue_position": e.queue_position,
                                        "epochs": e.config.train.epochs} for b, e in pairs])
    for beta, e in pairs:
        weights = Path(e.run_dir) / store.WEIGHTS
        if e.status.live:
            v = eng.view(e.run_id)
            if v is not None and v.val_rows:
                view.curves[beta] = beta_report.val_curve(v.val_rows)
        elif weights.is_file():
            view.curves[beta] = _disk_curve(str(e.run_dir), weights.stat().st_mtime)
        changed = [ev for ev in (e.summary or {}).get("events", []) if ev.get("param") == "beta"]
        if changed:
            view.notes.append(f"β = {beta:g}: its β was changed while it trained (to "
                              f"{changed[-1]['value']:g} at step {changed[-1]['step']}), so it is not "
                              f"the run its name says; its numbers are shown under β = {beta:g}.")
        point = sweep.point_from_summary(e.summary, beta=beta, run_id=e.run_id)
        if e.status != Status.FINISHED or point is None or not weights.is_file():
            continue
        data_json = json.dumps(dataclasses.asdict(e.config.data), sort_keys=True)
        m, imgs = _live_measure(str(e.run_dir), weights.stat().st_mtime, data_json, beta,
                                e.config.train.seed)
        view.config, view.n_train = e.config, e.summary.get("n_train")
        view.points.append(point)
        runs.append(m)
        view.images[beta] = imgs
        probe, view.inputs = _live_probe(data_json)
        view.null = probe.null
    view.measures = beta_report.aggregate(runs)
    return view


def is_live(key: str) -> bool:
    """Whether any run of the sweep ``key`` is still queued, starting, running or paused."""
    kind, _, tag = key.partition(":")
    return kind == "live" and any(e.status.live for _, e in live_sweeps().get(tag, []))


def build_view(key: str) -> SweepView:
    kind, _, name = key.partition(":")
    return shipped_view(key, name) if kind == "shipped" else live_view(key, name)


# =================================================================== a new sweep

def init_form() -> None:
    """The form's widget state, set once per session (widgets then take no ``value=``)."""
    defaults = {"sw_dataset": "digits", "sw_path": "", "sw_subset": 400, "sw_latent": 8,
                "sw_epochs": 150, "sw_pixels": "binary",
                "sw_betas": ", ".join(f"{b:g}" for b in sweep.DEFAULT_BETAS)}
    for k, v in defaults.items():
        st.session_state.setdefault(k, v)


def _own_data(eng, me: str) -> str | None:
    """An uploaded file (stored by the engine, checked, never unpickled) or a path typed
    inside this server's data folders; returns the path a run reads, or None."""
    s = settings.get()
    f = st.file_uploader("Your data (.npz, .npy or .csv)", type=["npz", "npy", "csv"], key="sw_upload",
                         max_upload_size=max(1, s.upload_bytes // 2**20),
                         help="Images N×H×W (uint8, or floats in [0, 1]) with labels y for the "
                              "sample-quality classifier; or a data file's path below.")
    if f is not None:
        done = st.session_state.setdefault("sw_uploaded", {})
        if f.file_id not in done:
            done[f.file_id] = str(eng.save_upload(f.getvalue(), f.name, me, max_bytes=s.upload_bytes))
        return done[f.file_id]
    typed = st.session_state["sw_path"].strip()
    return str(data.confine_path(typed, s.allowed_data_roots)) if typed else None


def new_sweep_form(me: str) -> None:
    """Settings of a sweep of one's own; Start submits one run per β to the engine."""
    eng = common.engine()
    init_form()
    st.markdown("**Run a sweep of your own**: one run per β, everything else equal. A small "
                "training subset and many epochs make overfitting visible.")
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Dataset", list(DATASETS), format_func=DATASETS.get, key="sw_dataset")
    c2.number_input("Training subset (images; 0 = all)", 0, 60_000, step=100, key="sw_subset")
    c3.number_input("Latent dimension", 1, 64, step=1, key="sw_latent")
    c4.number_input("Epochs", 1, 1000, step=10, key="sw_epochs")
    if dataset != "digits":
        st.text_input("Data file or folder (inside this server's data folders)", key="sw_path",
                      help="MNIST / Fashion-MNIST: an .npz with x_train, y_train, x_test, y_test or the "
                           "IDX files; empty: the data folder's copy. Own data: an .npz/.npy/.csv.")
    c5, c6 = st.columns([3, 2])
    c5.text_input("β values", key="sw_betas",
                  help=f"Up to {sweep.MAX_BETAS} values in [0, 1000]. β = 0 is the reconstruction term "
                       "alone (the AE loss of eq. 1, with a noisy encoder).")
    c6.selectbox("Pixels and likelihood", list(sweep.PIXELS), format_func=sweep.PIXELS.get, key="sw_pixels",
                 help="Binarised pixels with a Bernoulli likelihood give numbers that are true "
                      "bounds on log p(x); grey pixels with a Bernoulli do not; a Gaussian gives "
                      "densities, which can be negative.")
    path, problem = None, None
    try:
        if dataset == "file":
            path = _own_data(eng, me)
        elif dataset != "digits" and st.session_state["sw_path"].strip():
            path = str(data.confine_path(st.session_state["sw_path"], settings.get().allowed_data_roots))
    except (data.DataError, EngineError, store.StoreError, ValueError) as e:
        problem = f"Data: {e}"
        st.error(problem)
    if st.button("Start the sweep", type="primary", key="sw_start", disabled=problem is not None):
        start_sweep(eng, me, dataset, path)


def start_sweep(eng, me: str, dataset: str, path: str | None) -> None:
    ss, s = st.session_state, settings.get()
    try:
        if dataset == "file" and not path:
            raise ValueError("own data: upload a file, or type its path inside the data folders")
        betas = sweep.parse_betas(ss["sw_betas"])
        base = sweep.base_config(dataset, subset=int(ss["sw_subset"]) or None,
                                 latent_dim=int(ss["sw_latent"]), epochs=int(ss["sw_epochs"]),
                                 pixels=ss["sw_pixels"], path=path)
        if dataset in ("digits", "file"):
            ds = data.load(base.data, max_bytes=s.dataset_bytes)   # read now: a bad file is said here
            if not ds.is_image:
                raise ValueError("the β lab measures images (sharpness, samples); this file holds "
                                 "a feature table: train it on the Train page instead")
    except (ValueError, ConfigError, data.DataError) as e:
        st.error(f"Cannot start this sweep: {e}")
        return
    tag = sweep.make_tag()
    try:            # one check of the whole sweep: a class's rules, the caps, the memory estimate
        eng.submit_many(sweep.sweep_configs(base, betas, tag), owner=me)
    except EngineError as e:
        st.error(f"The training engine refused the sweep: {e}")
        return
    common.query_set(sweep=f"live:{tag}")
    ss["bl_sweep_next"] = f"live:{tag}"   # shown next run (the selector above is drawn already)
    st.rerun()


# =================================================================== the screen

def progress_panel(view: SweepView) -> None:
    """How many runs finished; one line per run that has not."""
    for note in view.notes:
        st.warning(note)
    done = sum(m["status"] == Status.FINISHED for m in view.members)
    if done < len(view.members):
        st.caption(f"{done} of {len(view.members)} runs finished")
    for m in view.members:
        s, b = m["status"], m["beta"]
        if s == Status.FINISHED:
            continue
        if s == Status.QUEUED:
            st.caption(f"β = {b:g}: queued (position {m['queue_position']})")
        elif s.active:
            pr = m["progress"]
            st.progress(min(1.0, pr.step / max(1, pr.total_steps)),
                        text=f"β = {b:g}: {s}, epoch {pr.epoch:.0f} of {pr.epochs or m['epochs']}")
        else:
            st.warning(f"β = {b:g}: {s}. {m.get('reason') or ''}")


def data_caption(view: SweepView) -> str:
    """What the sweep was trained on, and how to read its numbers."""
    cfg = view.config
    lik = cfg.model.likelihood + (f" (σ = {cfg.model.sigma:g})" if cfg.model.likelihood == "gaussian" else "")
    pixels = "binarised" if cfg.data.binarize != "none" else "grey"
    s = (f"{cfg.data.name}, {view.n_train or '?'} training images ({pixels} pixels), "
         f"{cfg.model.latent_dim}-D latent, {lik} likelihood, {cfg.train.epochs} epochs, seed "
         f"{cfg.train.seed}. Numbers are per image, in nats.")
    notes = beta_reading.likelihood_notes(cfg, _n_pixels(view), mse=_mean_mse(view))
    return " ".join([s] + notes)


def judge_caption(view: SweepView) -> str:
    """How far the sample-quality judge can be trusted: its calibration and what it makes
    of images that are not samples of the data at all."""
    n = view.null or {}
    if n.get("classifier_ece") is None:
        return ""
    return (f"The judge is calibrated (expected calibration error {n['classifier_ece']:.3f} on the "
            f"validation images, accuracy {100 * n['classifier_accuracy']:.0f}%); as samples, "
            f"uniform noise scores {n['uniform_noise_quality']:.2f}, the mean image "
            f"{n['mean_image_quality']:.2f}, blurred images {n['blurred_quality']:.2f} and real "
            f"training images {n['real_images_quality']:.2f}.")


def _n_pixels(view: SweepView) -> int:
    return int(np.prod(view.inputs.shape[1:])) if view.inputs is not None else 0


def _mean_mse(view: SweepView) -> float | None:
    v = [m["recon_mse"] for m in view.measures if m.get("recon_mse") is not None]
    return float(np.mean(v)) if v else None


def pictures(view: SweepView, betas=None, n: int = beta_report.N_SHOW) -> None:
    """One row per β (one image each): inputs, their reconstructions, prior samples (the
    same z for every β) and the nearest training image of each sample."""
    betas = betas or view.betas
    widths = [0.7, 8]
    heads = st.columns(widths)[1].columns(len(COLUMNS))
    for c, t in zip(heads, COLUMNS):
        c.markdown(f"**{t}s**" if t != "input" else "**inputs** (validation)")
    for b in betas:
        imgs = view.images.get(b)
        if imgs is None:
            continue
        label, row = st.columns(widths, vertical_alignment="center")
        label.markdown(f"**β = {b:g}**" + (" ⭐ sweet spot" if b in view.sweet else ""))
        groups = (view.inputs, imgs["recon"], imgs["samples"], imgs["nearest"])
        row.image(beta_figures.picture_row([g[:n] for g in groups]), clamp=True, width="stretch",
                  alt=chart_text.picture_row_alt(b, len(groups[2][:n]), imgs.get("sample_class"), b in view.sweet))
    st.caption("⭐ sweet spot: every β whose samples score within two standard errors of the best "
               "(the data cannot tell these apart). Each sample is decoded from the same "
               "z ~ N(0, I) at every β; beside it, the training image nearest to it (pixel "
               "distance): a copy means memorised, a stranger means a hole.")


@st.cache_data(max_entries=64, show_spinner=False)
def _measure_spec(kind: str, measures: list[dict], sweet: list[float]) -> dict:
    """A small chart's Vega-Lite specification with its data (Altair validates a chart
    against the schema when it serialises it: ~80 ms a chart, paid once per sweep)."""
    return beta_figures.measure_chart(measures, kind, sweet).to_dict()


@st.cache_data(max_entries=32, show_spinner=False)
def _curves_spec(curves: dict) -> dict:
    return beta_figures.curves_chart(curves).to_dict()


def measure_charts(view: SweepView, kinds=("sharpness", "gap", "quality"), key: str = "bl") -> None:
    cols = st.columns(len(kinds))
    for c, kind in zip(cols, kinds):
        frame, title = beta_figures.measure_frame(view.measures, kind, view.sweet), beta_figures.MEASURE_CHARTS[kind][0]
        with c:
            st.vega_lite_chart(spec=chart_text.vega_spec(_measure_spec(kind, view.measures, view.sweet), title),
                               key=f"{key}_{kind}", width="stretch")
            chart_text.under_chart(describe.measure_summary(frame, title), describe.measure_table(frame), title)


def curves_chart(curves: dict, key: str) -> None:
    frame = beta_figures.curves_frame(curves)
    st.vega_lite_chart(spec=chart_text.vega_spec(_curves_spec(curves), "Validation ELBO, one line per β"),
                       key=key, width="stretch")
    chart_text.under_chart(describe.beta_curves_summary(frame), describe.beta_curves_table(frame),
                           "validation ELBO per epoch and β")


def details(view: SweepView) -> None:
    """The rate–distortion plane, active units and every number, on request."""
    pts = view.points
    rates = np.array([p.val["kl"] for p in pts] + [p.train["kl"] for p in pts])
    spread = rates.max() / max(rates.min(), beta_figures.RATE_FLOOR) if len(rates) else 1.0
    c1, c2 = st.columns([3, 2])
    log_rate = c2.toggle("Log scale for the rate", value=bool(spread > 10), key="bl_rd_log")
    with c1:
        st.plotly_chart(beta_figures.rd_figure(pts, log_rate=log_rate), width="stretch", key="bl_rd")
        chart_text.under_chart(describe.beta_rd_summary(pts), describe.beta_rd_frame(pts), "the runs' rates and distortions")
    c2.markdown(
        "Each run is a point: **rate** = KL (how many nats z carries about the image), "
        "**distortion** = reconstruction error. Grey dotted **iso-ELBO lines** (recon + KL = c) "
        "join points of equal ELBO; lower-left is better. A run with weight β minimises "
        "recon + β·KL, whose level lines have slope −β (dashed, through its training point). "
        "Open circle: training; filled: validation; a long segment is overfitting.")
    fig = beta_figures.active_units_figure(pts, view.config.model.latent_dim)
    st.plotly_chart(fig, width="stretch", key="bl_au")
    chart_text.plotly_text(fig, "active units per β")
    table = beta_figures.numbers_table(pts, view.measures)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, help=beta_figures.TABLE_HELP.get(c))
                                for c in table.columns})
