"""The Theory page's prose: the paragraphs that explain a section, keyed by where they
stand (``"<tab>.<what>"``). Numbers never appear here; sentences that state a number or
a conclusion from one are written by :mod:`.views` from the measured values."""
from __future__ import annotations

#: the document this page reads, as a student meets it: its title and author (in the code it is
#: "the seed", shared/seed/; on the page "the note")
NOTE = "Allen C.'s note *Variational Autoencoders (VAEs)* (September 2023)"

TEXT = {
    "intro": (
        NOTE + " section by section, in the note's equation numbers. Each statement sits beside a "
        "**live check** computed by the same code that trains the models "
        "(`explorer/objective.py`). All quantities are **per image, in nats**. Notation, used everywhere on this "
        "page: the encoder outputs a mean μ_φ(x) and a log-variance log σ²_φ(x); σ_φ = exp(½ log σ²_φ) and "
        "z = μ_φ(x) + σ_φ(x) ⊙ ε with ε ~ N(0, I); the prior is p(z) = N(0, I). Each of the note's slips is "
        "marked ✏️ where it occurs, with the note's own text, the correction and the reason."),
    "ae.terms": (
        "**What each term does.** The reconstruction term is the autoencoder's loss in probabilistic form (the "
        "expected log-likelihood): it pulls x̂ towards x. The KL term pulls each q(z|x) towards N(0, I): it "
        "charges, in nats, for codes that are far from 0 or too precise, which keeps the latent space filled and "
        "smooth enough to sample from. The autoencoder pays no KL: its codes are points. The note's closing "
        "paragraph (section 5) says what each term would do alone:"),
    "kl.discrete": (
        "Eq. 3 is for distributions on countably many outcomes, like P and Q here (for densities the sum "
        "becomes an integral: S07, S11). The note lists two properties:"),
    "lemma.inputs": (
        "Set p = N(μ₁, Σ₁) and q = N(μ₂, Σ₂) in 2-D (k = 2). Each Σ is built from two standard deviations and "
        "a correlation, Σ = [[σ₁², ρσ₁σ₂], [ρσ₁σ₂, σ₂²]], so it is always symmetric."),
    "elbo.bayes": ("Bayes' theorem gives the posterior, but its p(x) = ∫ p(x, z) dz (eq. 8) is hard to compute "
                   "when z is high-dimensional:"),
    "elbo.bound": (
        "The right-hand side of eq. 12 is the **ELBO**; the loss of eq. 13 is its negative, L = −ELBO. Because "
        "the KL on the left is ≥ 0, the ELBO is below log p(x) by exactly KL(q(z|x) ‖ p(z|x)). Section 5 "
        "names it and bounds it:"),
    "elbo.encoder": ("Its encoder q(z|x) = N(Ax + c, diag(s²)) starts on the true posterior. Move it off: shift "
                     "its mean, stretch or shrink its standard deviations."),
    "elbo.iwae": (
        "The importance-weighted bound IWAE-k (Burda et al., 2015) averages k weights p(x, zᵢ)/q(zᵢ|x) inside "
        "the log. IWAE-1 is the ELBO; as k grows it climbs to log p(x), faster when q is close to the posterior. "
        "The inequalities hold for the expectations, not for every single estimate:"),
    "reparam.three": (
        "Take q = N(μ, σ²) in one dimension, φ = (μ, σ), and a function f. Three ways to estimate ∇_φ E_q f(z) "
        "from L samples:\n"
        "* **naive**: draw z^l ~ q, then differentiate (1/L) Σ f(z^l). The samples hold no trace of φ, so this "
        "is E_q ∇_φ f(z) = 0, whatever the true gradient: ∇E ≠ E∇.\n"
        "* **reparameterised** (the note's trick): z^l = μ + σ ε^l, then differentiate (1/L) Σ f(z^l).\n"
        "* **score function** (no trick, but correct): differentiate the density, not the samples:"),
    "mc.why": (
        "The reconstruction term is an average over L draws of z; the KL term (of eq. 14) is exact. So the loss "
        "the optimiser sees is random, and its spread shrinks like 1/√L. Training uses L = 1: a noisy but "
        "unbiased estimate, averaged out over many steps."),
}
