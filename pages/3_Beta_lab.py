"""β lab: blurriness against overfitting, shown and measured.

One run per β, everything else equal, side by side: the same validation images
reconstructed, prior samples, a blur score, training vs validation numbers and
their gap, the rate–distortion plane, active units, latent scatters, and a reading
of the measured numbers in plain words.

Two sources: the shipped sweeps in ``trained/`` (listed in ``trained/manifest.json``
under a ``"sweep"`` key; shown at once), and sweeps a person starts here, one job per
β through the same engine and queue as the Train page, filling in as runs finish.
A live sweep's runs are found again by their names (``β sweep <tag> · β=<β>``), so
the sweep survives a page refresh and a server restart. State in the URL:
``?sweep=shipped:digits`` or ``?sweep=live:<tag>``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import data, settings, store
from explorer.engine import EngineError, Status
from explorer.analysis import sweep as S
from explorer.config import ConfigError, DATASETS_IMAGE
from explorer.figures import beta as fb
from explorer.ui import common, live

common.page_setup("β lab", "⚖️")

MANIFEST = store.SHIPPED_ROOT / "manifest.json"
N_SHOW = 8            # validation images (and prior samples) shown per β
PROBE_MAX = 1000      # validation images used for blur scores and latent scatters


def md(text: str) -> str:
    """Text shown in Markdown without being read as Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


# =================================================================== sweeps

def shipped_members(name: str) -> list[dict]:
    """The runs of a shipped sweep, as members (see :func:`live_members`)."""
    out = []
    for rid in S.shipped_sweeps(MANIFEST).get(name, []):
        try:
            run = store.open_run(store.SHIPPED_ROOT / rid)
        except store.StoreError:
            continue
        out.append({"beta": run.config.train.beta, "run_id": rid, "run_dir": run.path,
                    "status": Status.FINISHED, "summary": run.summary,
                    "config": run.config, "progress": None, "reason": None, "queue_position": None,
                    "probe": f"run:{run.path}"})
    return out


def live_sweeps() -> dict[str, list[dict]]:
    """Sweeps started on this server (any session), by tag: the engine's runs whose names
    mark them as sweep runs."""
    return S.group_sweep_runs(common.engine().list(name_prefix=S.NAME_PREFIX))


def live_members(tag: str) -> list[dict]:
    out = []
    for beta, e in live_sweeps().get(tag, []):
        cfg = e.config
        out.append({"beta": beta, "run_id": e.run_id, "run_dir": Path(e.run_dir),
                    "status": e.status, "summary": e.summary, "config": cfg,
                    "progress": e.progress, "reason": e.reason,
                    "queue_position": e.queue_position, "owner": e.owner,
                    "probe": "data:" + json.dumps(cfg.data.__dict__, sort_keys=True)})
    return out


def sweep_choices(me: str) -> dict[str, str]:
    """key -> label, shipped sweeps first, then live ones (yours marked)."""
    out = {}
    for name, ids in S.shipped_sweeps(MANIFEST).items():
        if any((store.SHIPPED_ROOT / i / store.WEIGHTS).is_file() for i in ids):
            out[f"shipped:{name}"] = f"📦 shipped: {name} ({len(ids)} β values)"
    for tag, runs in sorted(live_sweeps().items(), key=lambda kv: -max(e.created for _, e in kv[1])):
        cfg = runs[0][1].config
        who = "your" if any(e.owner == me for _, e in runs) else "another visitor's"
        # the label stays fixed while the runs progress (a selectbox keeps its first labels)
        out[f"live:{tag}"] = (f"🧪 {who} sweep {tag}: {cfg.data.name}, {cfg.data.subset or 'all'} "
                              f"training images, z={cfg.model.latent_dim}, {len(runs)} β values")
    return out


# =================================================================== cached work

@st.cache_resource(max_entries=8, show_spinner=False)
def probe_images(probe_key: str):
    """``(x, labels, class_names)``: validation images the sweep's runs are shown on.
    Shipped runs carry them (probe.safetensors); a live run's come from its dataset."""
    kind, _, rest = probe_key.partition(":")
    if kind == "run":
        p = store.load_probe(Path(rest))
        if p is None:
            raise store.StoreError(f"{rest}: no probe images")
        x, y, names = p
    else:
        from explorer.config import DataConfig
        ds = data.load(DataConfig(**json.loads(rest)))
        x, y, names = ds.x_val, ds.y_val, ds.class_names or []
    n = min(PROBE_MAX, len(x))
    return x[:n].numpy(), None if y is None else y[:n].numpy(), list(names or [])


@st.cache_resource(max_entries=48, show_spinner=False)
def run_look(run_dir: str, mtime: float, probe_key: str) -> S.RunLook:
    """Reconstructions, samples, latent plane and blur of one run (cached per weights file)."""
    x, labels, _ = probe_images(probe_key)
    model = common.load_model(Path(run_dir))
    return S.look_at_model(model, x, show=S.pick_examples(labels, N_SHOW), n_samples=500, seed=0)


def weights_mtime(run_dir: Path) -> float:
    p = Path(run_dir) / store.WEIGHTS
    return p.stat().st_mtime if p.exists() else 0.0


# =================================================================== new sweep

def new_sweep_form(me: str) -> None:
    eng = common.engine()
    with st.form("sweep_form"):
        st.markdown("**Run a sweep of your own**: one run per β, everything else equal. "
                    "Small training subsets make overfitting visible.")
        c1, c2, c3, c4 = st.columns(4)
        dataset = c1.selectbox("Dataset", DATASETS_IMAGE, key="sw_dataset",
                               help="MNIST and Fashion-MNIST are read from the server's data "
                                    "cache (downloaded once if missing).")
        subset = c2.number_input("Training subset (images; 0 = all)", 0, 60_000, 400, 100,
                                 key="sw_subset")
        latent = c3.number_input("Latent dimension", 1, 64, 8, 1, key="sw_latent",
                                 help="2 shows the latent space directly; more dimensions "
                                      "are shown on their two principal axes.")
        epochs = c4.number_input("Epochs", 1, 1000, 150, 10, key="sw_epochs")
        c5, c6 = st.columns([3, 1])
        betas_text = c5.text_input("β values", ", ".join(f"{b:g}" for b in S.DEFAULT_BETAS),
                                   key="sw_betas",
                                   help=f"Up to {S.MAX_BETAS} values in [0, 1000]. β = 0 is the "
                                        "reconstruction term alone (the AE loss of eq. 1, with "
                                        "a noisy encoder).")
        lik = c6.selectbox("Likelihood", ["auto", "gaussian", "bernoulli"], key="sw_lik",
                           help="auto: Gaussian (σ = 0.1) for the grey 8×8 digits, as the "
                                "shipped digits models; Bernoulli for MNIST-style images.")
        go_ = st.form_submit_button("Start the sweep", type="primary")
    if not go_:
        return
    try:
        betas = S.parse_betas(betas_text)
        base = S.base_config(dataset, subset=int(subset) or None, latent_dim=int(latent),
                             epochs=int(epochs), likelihood=None if lik == "auto" else lik)
        if dataset == "digits":
            data.load(base.data)        # instant for digits: a too-large subset is said here
    except (ValueError, ConfigError, data.DataError) as e:
        st.error(f"Cannot start this sweep: {e}")
        return
    s = settings.get()
    mine = eng.runs_of(me)
    if mine + len(betas) > s.max_runs_per_owner:
        st.error(f"One person may keep {s.max_runs_per_owner} runs on this server (setting "
                 f"LATENT_EXPLORER_MAX_RUNS_PER_OWNER); you have {mine}, and this sweep needs "
                 f"{len(betas)}. Use fewer β values, or delete runs on the Runs page.")
        return
    if len(betas) > s.max_queued_per_owner:
        st.error(f"This sweep needs {len(betas)} runs in the queue at once; one person may have "
                 f"{s.max_queued_per_owner} (setting LATENT_EXPLORER_MAX_QUEUED_PER_OWNER). "
                 f"Use fewer β values.")
        return
    tag = S.make_tag()
    try:
        for cfg in S.sweep_configs(base, betas, tag):
            eng.submit(cfg, owner=me)
    except EngineError as e:
        st.error(f"The training engine refused the sweep: {e}")
        return
    common.query_set(sweep=f"live:{tag}")
    st.session_state["bl_sweep"] = f"live:{tag}"     # show the new sweep (the selector comes later)
    st.rerun()


# =================================================================== drawing

def progress_panel(members: list[dict]) -> None:
    """How many runs finished; one line per run that has not: queued, running (with
    progress), or why it ended."""
    done = sum(m["status"] == "finished" for m in members)
    if done < len(members):
        st.caption(f"{done} of {len(members)} runs finished")
    for m in members:
        s, b = m["status"], m["beta"]
        if s == "finished":
            continue
        if s == "queued":
            st.caption(f"β = {b:g}: queued (position {m['queue_position']})")
        elif s.active:
            pr = m["progress"]
            frac = min(1.0, pr.step / max(1, pr.total_steps))
            st.progress(frac, text=f"β = {b:g}: {s}, epoch {pr.epoch:.0f} of "
                                   f"{pr.epochs or m['config'].train.epochs}")
        else:
            st.warning(f"β = {b:g}: {s}. {m.get('reason') or ''}")


def show_sweep(members: list[dict]) -> None:
    """Everything the page shows of a sweep's finished runs."""
    progress_panel(members)
    done = [m for m in members if m["status"] == "finished"
            and S.point_from_summary(m["summary"]) is not None
            and (Path(m["run_dir"]) / store.WEIGHTS).is_file()]
    if not done:
        st.info("No run of this sweep has finished yet; results appear here as each one does.")
        return
    cfg = done[0]["config"]
    points = [S.point_from_summary(m["summary"], beta=m["beta"], run_id=m["run_id"]) for m in done]
    probe = next((m["probe"] for m in done if m["probe"].startswith("data:")
                  or (Path(m["run_dir"]) / store.PROBE).is_file()), done[0]["probe"])
    try:                            # one set of validation images for every β
        x, labels, class_names = probe_images(probe)
        looks = {m["beta"]: run_look(str(m["run_dir"]), weights_mtime(m["run_dir"]), probe)
                 for m in done}
    except (store.StoreError, data.DataError, OSError, ValueError) as e:
        st.error(f"Could not load this sweep's images or models: {e}")
        return
    data_edge = float(S.edge_strength(x).mean())
    betas = sorted(looks)
    d = cfg.model.latent_dim

    st.caption(f"{cfg.data.name}, {done[0]['summary'].get('n_train', '?')} training images, "
               f"{d}-D latent, {cfg.model.likelihood} likelihood"
               + (f" (σ = {cfg.model.sigma:g})" if cfg.model.likelihood == "gaussian" else "")
               + f", {cfg.train.epochs} epochs, seed {cfg.train.seed}. Numbers are per image, in "
                 f"nats: reconstruction = −log p(x|z) summed over pixels, KL summed over latent "
                 f"dimensions.")

    st.subheader("What the numbers say")
    st.markdown("\n".join(f"- {s}" for s in
                          S.reading(points, looks, data_edge=data_edge, latent_dim=d)))

    st.subheader("Reconstructions and prior samples, one column per β")
    show = S.pick_examples(labels, N_SHOW)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(fb.image_columns([("data", x[show])]
                                         + [(fb.beta_label(b), looks[b].recon) for b in betas],
                                         title="Reconstructions of the same validation images"),
                        width="stretch", key="bl_recon")
    with right:
        st.plotly_chart(fb.image_columns([(fb.beta_label(b), looks[b].samples) for b in betas],
                                         title="Samples: decoded z ~ N(0, I), same z for every β"),
                        width="stretch", key="bl_samples")

    st.subheader("Blur, measured")
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(fb.blur_figure(betas, [looks[b].edge_recon for b in betas],
                                   [looks[b].edge_samples for b in betas], data_edge),
                    width="stretch", key="bl_blur")
    c2.markdown(
        "**Edge strength** = the mean gradient magnitude: the average size of the step in "
        "brightness between neighbouring pixels. Blur *is* the loss of those steps: a decoder "
        "unsure between several digits outputs their average, and averaging smooths edges. "
        "The **blur score** is the share of the data's edge strength that is lost, "
        "`1 − edges(images) / edges(data)`: 0 for the data itself, 1 for a flat grey image. "
        "(The variance of the Laplacian, the usual camera focus measure, is a second "
        "derivative: on 8×8 images it is dominated by single-pixel noise.)")

    st.subheader("Overfitting: training against validation")
    st.plotly_chart(fb.train_val_figure(points), width="stretch", key="bl_trainval")
    st.caption("The gap is how much better the model scores on the images it was trained on. "
               "The KL term limits how much each image can write into z, so it limits memorising.")

    st.subheader("The rate–distortion plane")
    c1, c2 = st.columns([3, 2])
    rates = np.array([p.val["kl"] for p in points] + [p.train["kl"] for p in points])
    spread = rates.max() / max(rates.min(), fb.RATE_FLOOR) if len(rates) else 1.0
    log_rate = c2.toggle("Log scale for the rate", value=bool(spread > 10), key="bl_rd_log",
                         help="Spreads runs whose KL differ by orders of magnitude; the straight "
                              "lines then curve.")
    c1.plotly_chart(fb.rd_figure(points, log_rate=log_rate), width="stretch", key="bl_rd")
    c2.markdown(
        "Each run is a point: **rate** = KL (how many nats z carries about the image), "
        "**distortion** = reconstruction error. The negative ELBO is their sum, so the grey "
        "dotted **iso-ELBO lines** (recon + KL = c) join points with the same ELBO; lower-left "
        "is better. A run with weight β minimises recon + β·KL, whose level lines have slope −β "
        "(dashed, through each run's training point): β = 1 follows the iso-ELBO direction, a "
        "small β buys low distortion with a high rate, a large β the reverse. The open circle "
        "(training) and the filled one (validation) of a run are joined: a long segment is "
        "overfitting.")

    st.subheader("Active units and posterior collapse")
    st.plotly_chart(fb.active_units_figure(points, d), width="stretch", key="bl_au")
    st.caption("A dimension is active when its posterior mean changes from image to image "
               "(variance > 0.01, Burda et al. 2015). A collapsed dimension has KL ≈ 0: its "
               "q(z|x) is the prior for every image, so the decoder ignores it.")

    st.subheader("Latent spaces, one per β")
    axes = looks[betas[0]].axis_titles if d <= 2 else ("PC1", "PC2")
    st.plotly_chart(fb.latent_grid([(fb.beta_label(b), looks[b].plane) for b in betas], labels,
                                   class_names, axis_titles=axes),
                    width="stretch", key="bl_latent")
    st.caption("Posterior means of validation images, coloured by class; dotted: the prior's "
               "1σ and 2σ circles. Points spread far beyond the circles leave holes where prior "
               "samples decode to nothing seen in training; points huddled in the middle have "
               "collapsed." + ("" if d <= 2 else
                               " With more than 2 dimensions each panel shows the plane of its "
                               "means' two principal directions (PC1, PC2, found for each β), "
                               "through the origin: an orthonormal projection, so the prior's "
                               "circles keep their radius."))

    with st.expander("All the numbers"):
        st.dataframe(fb.numbers_table(points, looks), hide_index=True, width="stretch")


# =================================================================== page

st.title("⚖️ β lab: blurriness against overfitting")
st.markdown(
    "The VAE's loss is **reconstruction + β · KL** (seed eq. 2 with a weight β; β = 1 is the "
    "negative ELBO of eq. 13). A **small β** lets each image write a lot into z: sharp "
    "reconstructions, but a latent space full of holes and a model that memorises its training "
    "images. A **large β** squeezes z towards the prior: blurry outputs and a collapsed latent "
    "space. Below, one run per β, everything else equal. **β = 0** drops the KL term: what is "
    "left is the autoencoder loss of eq. 1 (for this likelihood), with the VAE's noisy encoder.")

me = common.owner()
with st.expander("🧪 Run a sweep of your own", expanded=False):
    new_sweep_form(me)

choices = sweep_choices(me)
if not choices:
    st.warning("No sweep found: the shipped ones are missing from trained/ (rebuild them with "
               "`python -m explorer pretrain`), and none has been started here yet.")
    st.stop()
keys = list(choices)
wanted = common.query_get("sweep", keys[0])
if wanted not in choices:
    st.warning(f"Sweep {md(wanted.partition(':')[2] or wanted)} is not on this server (any more); "
               f"showing another.")
    wanted = keys[0]
if st.session_state.get("bl_sweep") not in choices:
    st.session_state["bl_sweep"] = wanted          # from the URL (or the first sweep)
key = st.selectbox("Sweep", keys, format_func=choices.get, key="bl_sweep")
common.query_set(sweep=key)


def _members(key: str) -> list[dict]:
    kind, _, name = key.partition(":")
    return shipped_members(name) if kind == "shipped" else live_members(name)


def _active(members: list[dict]) -> bool:
    return any(m["status"].live for m in members)


members = _members(key)
polling = _active(members)


def draw(key: str) -> None:
    with common.friendly_errors("Could not show this sweep"):
        show_sweep(_members(key))


live.poll_sweep(draw, key, polling, lambda k: _active(_members(k)))
