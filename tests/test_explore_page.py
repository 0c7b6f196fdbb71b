"""The Explore page under AppTest: it renders a shipped model, its sliders decode, the
manifold grid follows its size, a bad upload gives a message, links restore the view,
runs with a 3-D latent (PCA, t-SNE, two dimensions) or a 2-D toy set work, and a selection
on the plane shows its points. Its widgets take their values from session state only."""
import ast
import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import app_factory, assert_page_ok
from PIL import Image, ImageDraw

from explorer import store
from explorer.analysis import latent
from explorer.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from explorer.figures import latent as latent_figures
from explorer.figures.common import image_grid
from explorer.models import build_model

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "2_Explore.py")
SHIPPED = "shipped:digits-vae-z2-b1"


@pytest.fixture
def app(page_engine):
    return app_factory(PAGE)


_ok = assert_page_ok



def _chart(at, title_part: str) -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if title_part in ((spec["layout"].get("title") or {}).get("text") or ""):
            return spec
    raise AssertionError(f"no chart titled …{title_part}…")


def _decoded(at):
    """The big decoded image: (caption, media url)."""
    (img,) = [i for i in at.get("image") if i.proto.imgs[0].caption.startswith("decoder mean at z")]
    return img.proto.imgs[0].caption, img.proto.imgs[0].url


def _slider(at, label_start: str):
    (s,) = [s for s in at.slider if s.label.startswith(label_start)]
    return s


def _save_run(runs: Path, engine, name: str, data: DataConfig, latent_dim: int) -> str:
    """A small untrained run on disk, registered with the engine."""
    cfg = RunConfig(data=data, model=ModelConfig(hidden=[32], latent_dim=latent_dim, likelihood="gaussian"),
                    train=TrainConfig(epochs=1), name=name)
    shape = store.data_shape_of(cfg)
    torch.manual_seed(0)
    model = build_model(cfg.model, shape, "cpu")
    store.save_run(runs / name, cfg, model, [], {"status": "finished", "data_shape": list(shape)})
    engine.refresh_from_disk()
    return f"run:{name}"


# ------------------------------------------------------------ shipped model

def test_page_renders_a_shipped_model_and_its_sliders_decode(app):
    at = app()
    at.run()
    _ok(at)
    assert at.query_params["model"] == [SHIPPED] or at.query_params["model"] == SHIPPED
    sliders = [s.label for s in at.slider if s.label.startswith("z")]
    assert len(sliders) == 2 and all("· KL" in s for s in sliders)   # ordered by KL, labelled
    caption0, url0 = _decoded(at)
    assert caption0 == "decoder mean at z = (0.00, 0.00)"
    plane = _chart(at, "encoded")
    names = [t.get("name") for t in plane["data"]]
    assert "click grid" in names and "decoded z" in names and "prior 3σ" in names

    _slider(at, "z1 ·").set_value(1.5)
    at.run()
    _ok(at)
    caption1, url1 = _decoded(at)
    assert caption1 == "decoder mean at z = (1.50, 0.00)" and url1 != url0
    # inline, not a media file (a fragment rerun's media files stay until the next full run)
    assert url0.startswith("data:image/png;base64,") and url1.startswith("data:image/png;base64,")
    assert "1.50,0.00" in str(at.query_params["z"])

    _slider(at, "z1 ·").set_value(0.0)
    at.run()
    assert _decoded(at) == (caption0, url0)          # the same z decodes to the same image


def test_manifold_grid_follows_its_size_and_is_the_decoder_over_the_plane(app):
    at = app(model=SHIPPED)
    at.run()
    _ok(at)
    assert _chart(at, "15×15")
    at.slider(key="ex_grid_n").set_value(6)
    at.run()
    _ok(at)
    spec = _chart(at, "6×6")
    (li,) = spec["layout"]["images"]
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(li["source"].split(",", 1)[1]))))
    ranges = ((li["x"], li["x"] + li["sizex"]), (li["y"] - li["sizey"], li["y"]))
    model = store.load_model(store.SHIPPED_ROOT / "digits-vae-z2-b1")
    _, imgs = latent.decode_grid(model, ranges, 6)
    expected = latent_figures.manifold_tiles(imgs, 6)              # tiles 1 pixel apart (issue 17)
    f = shown.shape[0] // expected.shape[0]
    assert f >= 1 and shown.shape[0] == f * (6 * 9 + 1)
    assert np.allclose(shown[::f, ::f] / 255.0, expected, atol=1.5 / 255)


def test_a_bad_upload_gives_a_message_and_a_good_one_is_encoded(app):
    at = app(model=SHIPPED, tab="Encode your image")
    at.run()
    _ok(at)
    at.file_uploader(key="ex_upload").upload("digit.png", b"this is not an image", "image/png")
    at.run()
    assert not at.exception
    assert any("Could not use this file" in e.value and "not an image" in e.value for e in at.error)

    img = Image.new("L", (60, 90), 255)
    ImageDraw.Draw(img).line([(30, 10), (30, 80)], fill=0, width=8)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    at.file_uploader(key="ex_upload").clear().upload("one.png", buf.getvalue(), "image/png")
    at.run()
    _ok(at)
    assert any(m.value.startswith("**μ** = (") for m in at.markdown)
    captions = [i.proto.imgs[0].caption for i in at.get("image")]
    assert "as the model sees it" in captions and "reconstruction (decoder at μ)" in captions
    names = [t.get("name") for t in _chart(at, "encoded")["data"]]
    assert "your image (μ)" in names and any(n.startswith("q(z|x): 1σ, 2σ") for n in names)


def test_other_tabs_and_layers_render(app):
    at = app(model="shipped:digits-ae-z2", tab="Traversals")
    at.run()
    _ok(at)
    trav = _chart(at, "Traversals")
    assert trav["data"][0]["type"] == "image"
    at.radio(key="ex_trav_range").set_value("aggregate")
    at.radio(key="ex_bg").set_value("density")
    at.run()
    _ok(at)
    assert "σ" in "".join(_chart(at, "Traversals")["layout"]["xaxis"]["ticktext"])
    plane = _chart(at, "encoded")
    assert len(plane["layout"]["images"]) == 1                      # the density beneath the points
    assert any(t.get("name", "").startswith("q(z), log scale: full colour ≥") for t in plane["data"])
    assert any(c.value.startswith("Density: the darker") for c in at.caption)

    at = app(model=SHIPPED, tab="Interpolation")
    at.run()
    _ok(at)
    strip = _chart(at, "From A to B")
    assert strip["layout"]["yaxis"]["ticktext"] == ["linear", "spherical"]
    names = [t.get("name") for t in _chart(at, "encoded")["data"]]
    assert "linear path" in names and "spherical path" in names

    at = app(model=SHIPPED, tab="Prior samples")
    at.run()
    _ok(at)
    url0 = [i.proto.imgs[0].url for i in at.get("image") if "z ~ N(0, I)" in i.proto.imgs[0].caption]
    at.button(key="ex_resample").click()
    at.run()
    url1 = [i.proto.imgs[0].url for i in at.get("image") if "z ~ N(0, I)" in i.proto.imgs[0].caption]
    assert len(url0) == 1 and url0 != url1


def test_an_unknown_model_in_the_link_falls_back_with_a_warning(app):
    at = app(model="shipped:no-such-model")
    at.run()
    assert not at.exception
    assert any("not available" in w.value for w in at.warning)
    assert _decoded(at)[0].startswith("decoder mean at z")


# ------------------------------------------------------------- users' runs

def test_a_three_dimensional_run_link_projection_and_t_sne(app, page_engine, _isolated_runs):
    key = _save_run(_isolated_runs, page_engine, "z3-digits", DataConfig(name="digits"), 3)
    at = app(model=key, proj="dims", dims="3,1", z="0.50,-1.00,2.00")
    at.run()
    _ok(at)
    assert _decoded(at)[0] == "decoder mean at z = (0.50, -1.00, 2.00)"
    plane = _chart(at, "encoded")
    assert plane["layout"]["xaxis"]["title"]["text"] == "z₃" and plane["layout"]["yaxis"]["title"]["text"] == "z₁"
    # the marker of the decoded z sits at (z3, z1)
    (marker,) = [t for t in plane["data"] if t.get("name") == "decoded z"]
    assert marker["x"] == [2.0] or np.allclose(_as_list(marker["x"]), [2.0])

    mk = hashlib.sha1(key.encode()).hexdigest()[:10]
    at.radio(key=f"ex_proj_{mk}").set_value("pca")
    at.run()
    _ok(at)
    pca = _chart(at, "PCA of")
    assert "% of variance" in pca["layout"]["xaxis"]["title"]["text"]
    assert at.query_params["proj"] in ("pca", ["pca"])

    at.radio(key=f"ex_proj_{mk}").set_value("tsne")
    at.run()
    at.slider(key="ex_tsne_cap").set_value(200)
    at.run()
    _ok(at)
    tsne = _chart(at, "t-SNE of 200 codes")
    assert tsne["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"


def _as_list(v):
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def test_a_toy_run_shows_data_and_latent_side_by_side(app, page_engine, _isolated_runs):
    key = _save_run(_isolated_runs, page_engine, "moons", DataConfig(name="moons", n_points=300), 2)
    at = app(model=key)
    at.run()
    _ok(at)
    assert _chart(at, "Data space") and _chart(at, "Latent space (μ)")
    names = [t.get("name") for t in _chart(at, "Data space")["data"]]
    assert "decoder's image of a latent grid" in names and "decoded prior samples" in names
    assert any("upper moon" == t.get("name") for t in _chart(at, "encoded")["data"])
    assert any(c.value.startswith("decoder mean at z = (0.00, 0.00)") for c in at.caption)


def test_a_run_still_training_shows_once_its_first_checkpoint_exists(app, page_engine, _isolated_runs):
    from explorer.engine import Status
    from explorer.runs import Progress
    from explorer.engine.server import Job
    cfg = RunConfig(data=DataConfig(name="digits"),
                    model=ModelConfig(hidden=[32], latent_dim=2, likelihood="gaussian"), name="live")
    run_dir = _isolated_runs / "live-run"
    with page_engine._lock:
        page_engine._jobs["live-run"] = Job(run_id="live-run", owner="someone", config=cfg,
                                              run_dir=run_dir, status=Status.RUNNING,
                                              progress=Progress(epoch=0.4))
    at = app(model="run:live-run")
    at.run()
    assert not at.exception
    assert any("no checkpoint yet" in i.value for i in at.info)
    assert not at.slider                                   # nothing to explore yet

    torch.manual_seed(0)
    store.save_run(run_dir, cfg, build_model(cfg.model, (1, 8, 8), "cpu"), [], {"status": "running"})
    at.run()
    _ok(at)
    assert _decoded(at)[0] == "decoder mean at z = (0.00, 0.00)"
    assert any("Run status: **running**" in c.value for c in at.caption)


def test_a_one_dimensional_latent_decodes_along_a_line(app, page_engine, _isolated_runs):
    key = _save_run(_isolated_runs, page_engine, "z1-digits", DataConfig(name="digits"), 1)
    at = app(model=key, z="1.25")
    at.run()
    _ok(at)
    assert _decoded(at)[0] == "decoder mean at z = (1.25)"
    assert len([s for s in at.slider if s.label.startswith("z1 ·")]) == 1
    assert _chart(at, "15×15")


# ------------------------------------------------------------- selections

def test_selected_points_show_their_reconstructions_and_sigma_ellipses(app):
    at = app(model=SHIPPED)
    at.run()
    _ok(at)
    mk = hashlib.sha1(SHIPPED.encode()).hexdigest()[:10]
    mtime = (store.SHIPPED_ROOT / "digits-vae-z2-b1" / store.WEIGHTS).stat().st_mtime
    # what a box selection of points leaves (explorer.ui.explore.on_plane_select): their
    # indices, for the plane they were selected on (model, checkpoint, points, projection)
    at.session_state[f"ex_sel_{mk}"] = {"sig": f"{SHIPPED}|{mtime}|probe|359|dims|1000|μ", "idx": [0, 5, 9]}
    at.run()
    _ok(at)
    assert any(m.value == "**Selected: 3 points**" for m in at.markdown)
    assert any(i.proto.imgs[0].caption.startswith("Each pair of rows") for i in at.get("image"))
    (ell,) = [t for t in _chart(at, "encoded")["data"] if t.get("name", "").startswith("q(z|x): 1σ, 2σ")]
    k = ell["meta"]["scale"]                 # the digits' σ ≈ 0.04 on an 8-wide plane: drawn larger, and said
    assert k > 1 and ell["name"].endswith(f"drawn {k}× larger")
    assert any(f"The σ ellipses are drawn {k}× their true size" in c.value for c in at.caption)

    at.radio(key=f"ex_source_{mk}").set_value("train")     # other points: the selection is dropped
    at.run()
    _ok(at)
    assert not any(m.value.startswith("**Selected") for m in at.markdown)


# ------------------------------------------------------------- widget state

WIDGETS = {"slider": 3, "select_slider": 2, "number_input": 3, "selectbox": 2, "radio": 2,
           "toggle": 1, "checkbox": 1, "text_input": 1, "multiselect": 2}   # positional args before value


def test_no_widget_has_both_a_key_and_a_default_value():
    """Streamlit warns when a keyed widget also gets ``value=``/``index=``: the page and its
    modules set each widget's state once, then create it with its key only."""
    root = Path(PAGE).parent.parent
    for path in (Path(PAGE), root / "explorer" / "ui" / "explore.py", root / "explorer" / "ui" / "explore_tabs.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in WIDGETS and any(k.arg == "key" for k in node.keywords)):
                continue
            where = f"{path.name}:{node.lineno}"
            assert len(node.args) <= WIDGETS[node.func.attr], f"{where}: a positional default value"
            assert not {"value", "index", "default"} & {k.arg for k in node.keywords}, where
