r"""The seed's numbered equations as the Theory page shows them: in the page's notation
(the prior p(z) has no θ; the encoder outputs μ_φ(x) and the log-variance log σ²_φ(x);
σ_φ = exp(½ log σ²_φ)) and with the seed's slips corrected (the slips themselves are
in :mod:`.slips`, shown beside each equation).

Each entry keeps the seed's number and an ``anchor``: a piece of the seed's own LaTeX
that occurs in the seed's equation of that number, so tests can check that every
number on the page is the seed's (:func:`seed_equations` reads the numbered displays).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .slips import normalise


@dataclass(frozen=True)
class Equation:
    number: int
    latex: str          # as the page shows it, without the number
    anchor: str         # seed LaTeX that occurs in the seed's equation ``number``
    slips: tuple = ()   # the slips corrected in ``latex``


_E = r"E_{z\sim q_\phi(z|x)}"
_REC = rf"-{_E}\log p_\theta(x|z)"
EQUATIONS = {e.number: e for e in (
    Equation(1, r"L(\theta,\phi)=\frac{1}{n}\sum_{i=1}^{n}\big\lVert X^{i}-f_\theta(g_\phi(X^{i}))\big\rVert_2^{2}",
             r"\frac{1}{n} \sum_{i=1}^n [X^i - f_\theta(g_\phi(X^i))]^2", ("S01",)),
    Equation(2, rf"L(\theta,\phi)={_REC}+D_{{KL}}\big(q_\phi(z|x)\,\|\,p(z)\big)",
             r"L(\theta, \phi) = -E_{z \sim q_\phi(z|x)} \log(p_\theta(x|z)) "
             r"+ D_{KL}(q_\phi(z|x) || p_\theta(z))",
             ("S03",)),
    Equation(3, r"D_{KL}(P\|Q)=\sum_x P(x)\log\left(\frac{P(x)}{Q(x)}\right)",
             r"D_{KL}(P||Q) = \sum_x P(x) \log \left( \frac{P(x)}{Q(x)} \right)"),
    Equation(4, r"N(x;\mu,\Sigma)=\frac{1}{\sqrt{(2\pi)^k|\Sigma|}}"
                r"\exp\left(-\frac12(x-\mu)^\top\Sigma^{-1}(x-\mu)\right)",
             r"N(x; \mu, \Sigma) = \frac{1}{\sqrt{(2\pi)^k |\Sigma|}}"),
    Equation(5, r"D_{KL}(p\|q)=\frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|}-k"
                r"+\operatorname{tr}(\Sigma_2^{-1}\Sigma_1)+(\mu_1-\mu_2)^\top\Sigma_2^{-1}(\mu_1-\mu_2)\right]",
             r"\log \frac{|\Sigma_2|}{|\Sigma_1|} - k + \text{tr}(\Sigma_2^{-1}\Sigma_1) + (\mu_1 - \mu_2)^\top"),
    Equation(7, r"p(z|x)=\frac{p(x|z)\,p(z)}{p(x)}", r"p(z|x) = \frac{p(x|z)p(z)}{p(x)}"),
    Equation(9, r"KL(q_\phi(z|x)\|p_\theta(z|x))=\int q_\phi(z|x)\log\frac{q_\phi(z|x)}{p_\theta(z|x)}\,dz"
                rf"={_E}\left[\log q_\phi(z|x)-\log p_\theta(z|x)\right]",
             r"E_{z \sim q_\phi(z|x)} \left[ \log q_\phi(z|x) - \log p_\theta(z|x) \right]", ("S11",)),
    Equation(12, rf"\log p_\theta(x)-KL(q_\phi(z|x)\|p_\theta(z|x))={_E}\left[\log p_\theta(x|z)\right]"
                 r"-D_{KL}[q_\phi(z|x)\|p(z)]",
             r"\log p_\theta(x) - KL(q_\phi(z|x)||p_\theta(z|x))", ("S03",)),
    Equation(13, rf"L(\theta,\phi)={_REC}+D_{{KL}}\big(q_\phi(z|x)\,\|\,p(z)\big)",
             r"+ D_{KL}(q_\phi(z|x)||p_\theta(z))", ("S03",)),
    Equation(14, rf"L(\theta,\phi)={_REC}+\frac12\sum_k\left(\sigma^2_{{\phi,k}}(x)+\mu_{{\phi,k}}(x)^2-1"
                 r"-\log\sigma^2_{\phi,k}(x)\right),\quad \sigma^2_{\phi,k}=\exp(\log\sigma^2_{\phi,k})",
             r"+ \frac{1}{2} \sum_k \left( \exp(\Sigma_\phi(x)) + \mu_\phi(x)^2 - 1 - \Sigma_\phi(x) \right)",
             ("S19",)),
    Equation(15, r"-L(\theta,\phi)=\text{ELBO}\le\log p_\theta(x)"
                 r"\quad\Longleftrightarrow\quad L(\theta,\phi)\ge-\log p_\theta(x)",
             r"L(\theta, \phi) \leq \log p_\theta(x)", ("S23",)),
)}

# Formulas the page shows that the seed does not number (in the page's notation).
_Z = r"z^l=\mu_\phi(x)+\sigma_\phi(x)\odot\epsilon^l,\quad\epsilon^l\sim N(0,I)"
FORMULAS = {
    "proof_step": r"\int p(x)\left[\tfrac12(x-\mu_2)^\top\Sigma_2^{-1}(x-\mu_2)\right]dx"
                  r"=\tfrac12\operatorname{tr}(\Sigma_2^{-1}\Sigma_1)"
                  r"+\tfrac12(\mu_1-\mu_2)^\top\Sigma_2^{-1}(\mu_1-\mu_2)",
    "kl_diag": r"D_{KL}\big(N(\mu_\phi(x),\operatorname{diag}\sigma^2_\phi(x))\,\|\,N(0,I)\big)=\frac12\sum_k"
               r"\left(\sigma^2_{\phi,k}(x)+\mu_{\phi,k}(x)^2-1-\log\sigma^2_{\phi,k}(x)\right)",
    "linear_model": r"\begin{gathered}p(z)=N(0,I_2),\qquad p(x|z)=N(Wz+b,\,\sigma^2 I_3)\\"
                    r"\log p(x)=\log N(x;\,b,\,WW^\top+\sigma^2 I),\qquad p(z|x)=N\big(M(x-b),\,S\big)"
                    r"\end{gathered}",
    "iwae": r"\begin{gathered}\text{IWAE}_k=E\left[\log\frac1k\sum_{i=1}^k\frac{p_\theta(x,z_i)}{q_\phi(z_i|x)}"
            r"\right],\quad z_i\sim q_\phi(z|x)\\"
            r"\text{ELBO}=\text{IWAE}_1\le\text{IWAE}_k\le\text{IWAE}_{k+1}\le\log p_\theta(x)\end{gathered}",
    "updates": r"\theta\leftarrow\theta-\eta\nabla_\theta L(\theta,\phi),\qquad "
               r"\phi\leftarrow\phi-\eta\nabla_\phi L(\theta,\phi)",
    "theta_grad": r"\nabla_\theta L(\theta,\phi)=-\frac1L\sum_{l=1}^{L}\nabla_\theta\log p_\theta(x|z^l)+0,"
                  r"\qquad z^l\sim q_\phi(z|x)",
    "grad_exchange": r"\nabla_\phi E_{z\sim q_\phi(z|x)}f(z)\neq E_{z\sim q_\phi(z|x)}\nabla_\phi f(z)",
    "reparam": r"\begin{gathered}E_{z\sim q_\phi(z|x)}f(z)=E_{\epsilon\sim N(0,I)}f(g_\phi(\epsilon,x))\\"
               r"g_\phi(\epsilon,x)=\mu_\phi(x)+\sigma_\phi(x)\odot\epsilon,\quad"
               r"\sigma_\phi(x)=\exp\big(\tfrac12\log\sigma^2_\phi(x)\big)\end{gathered}",
    "score": r"\nabla_\phi E_{z\sim q_\phi}f(z)=\nabla_\phi\int q_\phi(z)f(z)\,dz=E_{z\sim q_\phi}"
             r"\left[f(z)\,\nabla_\phi\log q_\phi(z)\right]"
             r"\approx\frac1L\sum_{l=1}^L f(z^l)\,\nabla_\phi\log q_\phi(z^l)",
    "mc_recon": rf"-{_E}\log p_\theta(x|z)\approx-\frac1L\sum_{{l=1}}^{{L}}\log p_\theta(x|z^l),\qquad {_Z}",
}

TAG = re.compile(r"\\qquad\((\d+)\)$")


def latex(n: int) -> str:
    """Equation ``n`` for ``st.latex``, with the seed's number as its tag."""
    return EQUATIONS[n].latex + rf"\qquad({n})"


def tag_of(tex: str) -> int | None:
    """The seed number a displayed formula carries (``\\qquad(n)`` at its end), or None."""
    m = TAG.search(tex.strip())
    return int(m.group(1)) if m else None


def seed_equations(seed_text: str) -> dict[int, str]:
    """The seed's numbered displays, ``{n: body}`` (whitespace normalised): each ``$$ ... $$``
    block that ends in ``\\quad (n)``."""
    out = {}
    for block in seed_text.split("$$")[1::2]:
        m = re.search(r"\\quad \((\d+)\)\s*$", block)
        if m:
            out[int(m.group(1))] = normalise(block[:m.start()])
    return out
