"""explorer.figures.describe: each chart's one-sentence summary is made from the chart's own
table, and the numbers in the sentence are that table's (first, last, extremes, counts);
the data tables hold the same values."""
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.figures import beta as beta_figures
from explorer.figures import classroom as classroom_figures
from explorer.figures import describe
from explorer.figures import training as training_figures


def numbers(text: str) -> list[float]:
    """The numbers written in a sentence (thousands separators and minus signs read)."""
    return [float(m.replace(",", "")) for m in re.findall(r"-?\d[\d,]*\.?\d*(?:e[-+]?\d+)?", text)]


def said(text: str, value: float) -> bool:
    """``value`` appears in ``text`` as the sentences write it (3 significant digits)."""
    return describe.num(value) in text


def run_rows(n_steps=1200, flat_from=400):
    rows = [{"step": i, "recon": 100 - 50 * (1 - np.exp(-i / 200)), "kl": 0.4 + 2.6 * min(1, i / flat_from),
             "beta_kl": 0.0, "loss": 0.0, "epoch": i / 20} for i in range(0, n_steps, 5)]
    val = [{"step": s, "val_recon": 100 - 50 * (1 - np.exp(-s / 200)), "val_kl": 0.4 + 2.2 * min(1, s / 800),
            "beta": 1.0} for s in range(60, n_steps + 1, 60)]
    return rows, val


def test_the_loss_panel_sentence_reads_its_own_curves():
    rows, val = run_rows()
    events = [{"step": 600, "param": "beta", "value": 3.0}]
    panel = training_figures.panel_frame(training_figures.curve_frame(rows, val, events), "kl")
    text = describe.loss_panel_summary(panel, "KL")
    for split in ("training", "validation"):
        c = panel[(panel["kind"] == "curve") & (panel["split"] == split)].sort_values("step")
        first, last = c["value"].iloc[0], c["value"].iloc[-1]
        rose = f"rose from {re.escape(describe.num(first))} to {re.escape(describe.num(last))}"
        assert re.search(f"{split} KL {rose} nats "
                         f"over steps {c['step'].iloc[0]:,.0f} to {c['step'].iloc[-1]:,.0f}", text, re.I), text
    # flat since: validation KL stops rising at step 800 (the first epoch end at or after it)
    assert "validation KL rose" in text and "flat since step 780" in text or "flat since step 840" in text, text
    assert "β set to 3 at step 600" in text
    table = describe.loss_panel_table(panel)
    assert list(table.columns) == ["step", "training", "validation"] and len(table) <= describe.TABLE_ROWS
    last = table.iloc[-1]
    assert float(last["step"]) == panel["step"].max()


def test_a_curve_that_ends_above_its_lowest_point_says_where_it_was_lowest():
    x = np.arange(1, 61)
    y = np.concatenate([np.linspace(10, 2, 30), np.linspace(2, 6, 30)])      # overfitting
    text = describe.trend("Validation loss", x, y, "nats", "epoch")
    assert text.startswith("Validation loss fell from 10 to 6 nats over epochs 1 to 60")
    assert f"lowest {describe.num(y.min())} at epoch {int(x[np.argmin(y)])}" in text


def test_flat_since_is_none_for_a_curve_that_keeps_moving_and_a_flat_line_stays():
    x = np.arange(50.0)
    assert describe.flat_since(x, x ** 2) is None
    assert describe.trend("KL", x, np.full(50, 1.5)) == "KL stayed at 1.5 nats over steps 0 to 49"
    assert describe.trend("KL", [], []) == "KL: no values yet"


def test_rd_and_kl_sentences_use_the_current_point_and_every_dimension():
    rows, _ = run_rows()
    rd = training_figures.rd_frame(rows, 2.0)
    text = describe.rd_summary(rd, 2.0)
    now = rd[rd["kind"] == "now"].iloc[0]
    assert said(text, now["kl"]) and said(text, now["recon"]) and said(text, -(now["kl"] + now["recon"]))
    assert "β = 2" in text
    assert describe.rd_table(rd)["point"].iloc[-1] == "now"

    kl = training_figures.kl_frame([0.001, 2.3, 0.5, 0.0], [0.0, 1.2, 0.4, 0.0])
    text = describe.kl_summary(kl)
    assert text.startswith("2 of 4 latent dimensions are active")
    assert "from 0 to 2.3 nats, the largest in z2 (total 2.8 nats)" in text
    assert list(describe.kl_table(kl)["KL (nats)"]) == [0.001, 2.3, 0.5, 0.0]


def test_the_latent_sentence_names_the_furthest_and_closest_classes():
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [0.0, 0.0], [0.5, 0.0]])
    mu = np.concatenate([c + 0.1 * rng.standard_normal((50, 2)) for c in centres])
    labels = np.repeat([0, 1, 2], 50)
    frame = training_figures.latent_frame(mu, labels, ["a", "b", "c"])
    text = describe.latent_summary(frame)
    assert text.startswith("150 posterior means in the (z1, z2) plane")
    assert "the centres furthest apart a and b" in text and "the closest b and c" in text
    assert said(text, mu[:, 0].min()) and said(text, mu[:, 1].max())
    table = describe.latent_table(frame)
    assert list(table["class"]) == ["a", "b", "c"] and list(table["points"]) == [50, 50, 50]
    assert abs(table["mean z1"].iloc[0] - mu[:50, 0].mean()) < 1e-3


def test_beta_lab_sentences_follow_each_beta_and_the_sweet_spot():
    ms = [{"beta": b, "sample_quality": q, "precision": 0.9, "recall": r}
          for b, q, r in ((0.1, 0.4, 0.9), (1.0, 0.7, 0.8), (4.0, 0.6, 0.5))]
    frame = beta_figures.measure_frame(ms, "quality", sweet=1.0)
    text = describe.measure_summary(frame, "Sample quality")
    assert "Quality: harmonic mean rose from 0.4 to 0.6 over β from 0.1 to 4, highest 0.7 at β 1" in text
    assert "recall: covers the data fell from 0.9 to 0.5" in text and text.endswith("The sweet spot is β = 1.")
    assert list(describe.measure_table(frame)["β"]) == [0.1, 1.0, 4.0]
    both = describe.measure_summary(beta_figures.measure_frame(ms, "quality", sweet=[1.0, 4.0]), "Sample quality")
    assert both.endswith("The sweet spot is β = 1, 4: their samples lie within two standard errors of the best.")

    curves = {b: {"epoch": list(range(1, 31)), "elbo": list(-100 + np.minimum(np.arange(30), 15) * 2 - b)}
              for b in (0.5, 2.0)}
    frame = beta_figures.curves_frame(curves)
    text = describe.beta_curves_summary(frame)
    assert "At β = 0.5, validation ELBO rose from -100 to -70.5 nats over epochs 1 to 30" in text
    assert "at β = 2, validation ELBO rose from -102 to -72 nats" in text and "flat since epoch 16" in text
    assert list(describe.beta_curves_table(frame).columns) == ["epoch", "β = 0.5", "β = 2"]


def test_class_sentences_name_each_student():
    class S:  # the dashboard's per-student reading (explorer.classroom_board)
        def __init__(self, name, beta, kl, recon):
            self.name, self.beta, self.kl, self.recon = name, beta, kl, recon
            self.trail = [(kl + 1, recon + 5), (kl, recon)]
            self.curve = [(10, recon + 5, kl + 1), (20, recon, kl)]
            self.mu, self.labels = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    students = [S("Ann", 1.0, 12.0, 80.0), S("Bo", 4.0, 3.0, 120.0)]
    rd = classroom_figures.rd_frame(students)
    text = describe.class_rd_summary(rd)
    assert text.startswith("2 students' models")
    assert "Ann: β 1, KL 12, reconstruction 80" in text and "Bo: β 4, KL 3, reconstruction 120" in text
    assert "sharpest reconstructions are Ann's" in text
    assert list(describe.class_rd_table(rd)["student"]) == ["Ann", "Bo"]
    text = describe.class_curves_summary(classroom_figures.curves_frame(students))
    assert "Ann's reconstruction fell from 85 to 80 nats over steps 10 to 20" in text
    assert "Ann: 2 posterior means" in describe.class_latent_summary(classroom_figures.latent_frame(students))


def test_any_plotly_figure_is_read_trace_by_trace():
    fig = go.Figure([go.Scatter(x=[1, 2, 4, 8], y=[3.0, 2.0, 1.0, 1.0], name="reparameterised", mode="lines"),
                     go.Bar(x=["a", "b"], y=[1.5, 2.5], name="terms")])
    fig.update_layout(title="<b>Gradient variance</b>", xaxis_title="L")
    text = describe.figure_summary(fig)
    assert text.startswith("Gradient variance. Reparameterised fell from 3 to 1 over L 1 to 8")
    assert "Terms: a 1.5, b 2.5" in text
    table = describe.figure_table(fig)
    assert table.columns[0] == "L" and "reparameterised" in table.columns and len(table) == 6
    assert list(table["reparameterised"])[:4] == ["3", "2", "1", "1"] and list(table["terms"])[4:] == ["1.5", "2.5"]
    # a trace whose y values are categories (a bar chart on its side) is counted, not read
    fig.add_trace(go.Scatter(x=[1, 2], y=["#1", "#2"], name="ranks", mode="lines"))
    assert "Ranks: 2 values" in describe.figure_summary(fig)
    # a trace that is not one y per x (an outline) is left out of both
    fig.add_trace(go.Scatter(x=[0, 1, 2], y=[0, 1], name="outline"))
    assert "Outline" not in describe.figure_summary(fig) and "outline" not in describe.figure_table(fig).columns


@pytest.mark.parametrize("value,text", [(0.000123, "0.000123"), (2.6, "2.6"), (85.234, "85.2"),
                                        (1234.5, "1,234"), (-53.14, "-53.1"), (float("nan"), "n/a")])
def test_numbers_are_written_with_three_significant_digits(value, text):
    assert describe.num(value) == text


def test_the_beta_lab_rd_sentence_reads_each_run():
    from explorer.analysis.beta.sweep import BetaPoint
    pts = [BetaPoint(b, {"kl": kl + 1, "recon": rec - g}, {"kl": kl, "recon": rec})
           for b, kl, rec, g in ((4.0, 2.0, 60.0, 1.0), (0.5, 20.0, 30.0, 9.0), (1.0, 10.0, 35.0, 3.0))]
    text = describe.beta_rd_summary(pts)
    assert text.startswith("3 runs. From β = 0.5 to β = 4 the validation rate (KL) goes from 20 to 2 nats")
    assert "distortion (reconstruction) from 30 to 60 nats" in text
    assert "best validation ELBO is at β = 1 (-45)" in text and "is at β = 0.5 (9 nats)" in text
    assert list(describe.beta_rd_frame(pts)["β"]) == [0.5, 1.0, 4.0]
