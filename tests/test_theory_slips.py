"""The seed's slips (explorer/analysis/theory/slips.py) and the page's equation numbers
(explorer/analysis/theory/equations.py): every quote is the seed's own text, in the seed's
order; every numbered equation carries the seed's number; the corrections that make a
numerical claim are checked numerically."""
import re
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import theory
from explorer.analysis.theory import equations as theory_equations
from explorer.analysis.theory import slips as theory_slips

ROOT = Path(__file__).resolve().parent.parent
SEED_NAME = "000_620c6ae059760711.txt"
SEED = next((p for p in (ROOT / "shared" / "seed" / SEED_NAME, ROOT.parent / "shared" / "seed" / SEED_NAME)
             if p.is_file()), None)
needs_seed = pytest.mark.skipif(SEED is None, reason="the seed document (shared/seed) is not here")


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def test_at_least_twenty_slips_each_complete_with_a_unique_id_and_a_tab():
    assert len(theory_slips.SLIPS) >= 20
    assert [s.id for s in theory_slips.SLIPS] == [f"S{i:02d}" for i in range(1, len(theory_slips.SLIPS) + 1)]
    for s in theory_slips.SLIPS:
        assert s.where and s.title and s.seed.strip() and s.correction and s.reason, s.id
        assert s.tab in theory_slips.TABS, s.id
        assert s.correction.strip() != s.seed.strip(), s.id
    assert set(theory_slips.for_tab("Lemma 1")) < set(theory_slips.SLIPS) and all(s.tab == "ELBO" for s in theory_slips.for_tab("ELBO"))
    assert sum(len(theory_slips.for_tab(t)) for t in theory_slips.TABS) == len(theory_slips.SLIPS)


@needs_seed
def test_every_quote_is_the_seeds_own_text_in_the_seeds_order(seed_text):
    seed = theory_slips.normalise(seed_text)
    positions = []
    for s in theory_slips.SLIPS:
        pos = seed.find(theory_slips.normalise(s.seed))
        assert pos >= 0, f"{s.id}: not in the seed: {s.seed!r}"
        positions.append(pos)
    assert positions == sorted(positions), "slip ids should follow the seed's order"


def test_normalise_only_collapses_whitespace():
    assert theory_slips.normalise("  a \n\t b  c ") == "a b c"
    assert theory_slips.normalise(r"\frac{1}{n}") == r"\frac{1}{n}"


def test_markdown_shows_marker_seed_text_correction_and_reason_in_that_order():
    for s in theory_slips.SLIPS:
        md = theory_slips.markdown(s)
        parts = [theory_slips.marker(s), theory_slips.seed_markdown(s.seed), s.correction, s.reason]
        idx = [md.find(p) for p in parts]
        assert all(i >= 0 for i in idx) and idx == sorted(idx), s.id
        assert theory_slips.label(s).startswith(theory_slips.marker(s))
    # a fragment of a displayed formula is shown as math; text with inline math as it is
    assert theory_slips.seed_markdown(r"D_{K|L}(p(x)||q(x))") == r"$D_{K|L}(p(x)||q(x))$"
    assert theory_slips.seed_markdown("We have  Baye's theorem") == "We have Baye's theorem"


def test_overview_lists_every_slip_with_its_tab():
    text = theory_slips.overview_markdown()
    lines = text.splitlines()
    assert len(lines) == len(theory_slips.SLIPS)
    for line, s in zip(lines, theory_slips.SLIPS):
        assert f"**{s.id}**" in line and s.tab in line and s.title in line


# --------------------------------------------------------- the corrections' claims

def test_s05_kl_can_be_symmetric_for_different_distributions():
    r = theory.discrete_kl(theory.parse_weights("1, 4"), theory.parse_weights("4, 1"))
    assert r["kl_pq"] > 0.1 and r["kl_pq"] == pytest.approx(r["kl_qp"], rel=1e-12)
    assert "P = 1, 4 and Q = 4, 1" in theory_slips.BY_ID["S05"].correction


def test_s17_determinant_is_the_diagonal_product_only_for_a_diagonal_matrix():
    c = theory.covariance_2d(1.0, 1.0, 0.9)
    assert np.prod(np.diag(c)) == pytest.approx(1.0) and np.linalg.det(c) == pytest.approx(0.19)
    d = np.diag([0.3, 2.0])
    assert np.linalg.det(d) == pytest.approx(np.prod(np.diag(d)))


def test_s18_the_kl_as_sums_needs_minus_k():
    mu, logvar = np.array([0.7, -1.2, 0.1]), np.array([0.5, -1.0, 0.2])
    var = np.exp(logvar)
    corrected = 0.5 * (var.sum() + (mu ** 2).sum() - len(mu) - np.log(np.prod(var)))
    seeds = 0.5 * (var.sum() + (mu ** 2).sum() + len(mu) - np.log(np.prod(var)))
    exact = theory.diagonal_vs_eq14(mu, logvar)["lemma1"]
    assert corrected == pytest.approx(exact, rel=1e-12)
    assert seeds - exact == pytest.approx(len(mu))


def test_s23_the_seeds_eq15_fails_where_the_corrected_one_holds():
    r = theory.demo_elbo(0, (1.0, 0.5), (2.0, 0.5), 20_000)
    assert r["elbo"] < r["log_px"]                        # ELBO = −L ≤ log p(x)
    assert r["loss"] >= -r["log_px"]                      # L ≥ −log p(x)
    assert not r["loss"] <= r["log_px"]                   # the seed's L ≤ log p(x) is false here


# ------------------------------------------------------------- equation numbers

@needs_seed
def test_every_numbered_equation_on_the_page_is_the_seeds_equation_of_that_number(seed_text):
    numbered = theory_equations.seed_equations(seed_text)
    assert sorted(numbered) == list(range(1, 17))
    for n, e in theory_equations.EQUATIONS.items():
        assert e.number == n
        assert theory_slips.normalise(e.anchor) in numbered[n], n
        others = [m for m, body in numbered.items() if m != n and theory_slips.normalise(e.anchor) in body]
        assert n == 14 and others == [16] or not others, (n, others)    # eq. 16 repeats eq. 14
        for sid in e.slips:
            assert sid in theory_slips.BY_ID


def test_latex_tags_round_trip_and_use_the_pages_notation():
    for n in theory_equations.EQUATIONS:
        assert theory_equations.tag_of(theory_equations.latex(n)) == n
    assert theory_equations.tag_of(r"a=b") is None
    for tex in [e.latex for e in theory_equations.EQUATIONS.values()] + list(theory_equations.FORMULAS.values()):
        assert r"\Sigma_\phi" not in tex and "^{1/2}" not in tex, tex       # log σ², not the seed's Σ_φ
        assert r"p_\theta(z)" not in tex and r"p_\theta(z))" not in tex       # the prior has no θ
    assert re.search(r"\\ge-\\log p_\\theta\(x\)",
                     theory_equations.EQUATIONS[15].latex)      # eq. 15, corrected


def test_parse_reads_records_and_rejects_malformed_ones():
    src = ("S90 | eq. 1 | a title | ELBO\n    seed: some\n          seed text\n    fix: the fix\n"
           "    why: the\n       reason\n")
    (s,) = theory_slips.parse(src)
    assert (s.id, s.where, s.title, s.tab) == ("S90", "eq. 1", "a title", "ELBO")
    assert (s.seed, s.correction, s.reason) == ("some seed text", "the fix", "the reason")
    for bad, needle in (("S90 | eq. 1 | ELBO\n", "4 fields"), ("    seed: x\n", "before the first header"),
                        ("S90 | a | b | ELBO\n    orphan line\n", "before any field"),
                        ("S90 | a | b | ELBO\n    seed: x\n    fix: y\n", "needs seed, fix and why")):
        with pytest.raises(ValueError, match=needle):
            theory_slips.parse(bad)
