r"""The seed document's slips (shared/seed, "Variational Autoencoders", Allen C., 2023),
each with the seed's own text, the correction and the reason, and the tab of the
Theory page where it is shown (next to the statement it concerns).

``seed`` is quoted exactly from the seed's source (its Markdown and LaTeX), up to
runs of whitespace: tests check every quote against the seed file. The page shows
each slip with :func:`markdown`, headed by its :func:`marker` (``✏️ S07``).
Corrections and reasons are Markdown with inline LaTeX (``$...$``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TABS = ("AE vs VAE", "KL divergence", "Lemma 1", "ELBO", "Reparameterisation", "Monte Carlo")


@dataclass(frozen=True)
class Slip:
    id: str             # "S07"
    where: str          # the seed's equation or section: "eq. 1", "proof of Lemma 1"
    title: str          # a few words for the expander's label
    seed: str           # the seed's text, exactly (whitespace aside)
    correction: str     # Markdown
    reason: str         # Markdown, one or two sentences
    tab: str            # where on the Theory page it is shown (one of TABS)


# One slip per record: a header line ``id | where in the seed | title | tab``, then the
# fields ``seed:`` (the seed's text), ``fix:`` (the correction) and ``why:`` (the reason),
# each continued on more-indented lines (joined with a space).
SOURCE = r"""
S01 | eq. 1 | a vector squared | AE vs VAE
    seed: \frac{1}{n} \sum_{i=1}^n [X^i - f_\theta(g_\phi(X^i))]^2
    fix: $L(\theta,\phi)=\frac1n\sum_{i=1}^n \lVert X^i-f_\theta(g_\phi(X^i))\rVert_2^2$, the squared
          Euclidean distance between $X^i$ and its reconstruction.
    why: X is a vector and a vector has no square: the loss squares the difference of each component and
          adds them up.

S02 | section 1, after eq. 1 | the L² norm, or its square? | AE vs VAE
    seed: the loss function compares  $X$  and  $\hat{X}$  with the  $L^2$  norm
    fix: Eq. 1 compares $X$ and $\hat X$ with the **squared** $L^2$ norm, $\lVert X-\hat X\rVert_2^2$.
    why: The norm itself is the square root of that sum; it is a different loss (not differentiable at a
          perfect reconstruction) and not the one written in eq. 1.

S03 | eq. 2 (and eq. 10, 12, 13) | a prior with a θ | AE vs VAE
    seed: D_{KL}(q_\phi(z|x) || p_\theta(z))
    fix: $D_{KL}(q_\phi(z|x)\,\|\,p(z))$ with the fixed prior $p(z)=N(0,I)$: no θ. The same holds for
          $p_\theta(z)$ in eq. 10, 12 and 13.
    why: The prior has no parameters to learn. The note relies on this itself in section 5, where the
          θ-gradient of the KL term is 0: that is only true if p(z) does not depend on θ.

S04 | section 4, properties of KL | “or” should be “and” | KL divergence
    seed: $KL(P||Q) \geq 0$  or  $KL(Q||P) \geq 0$
    fix: $KL(P\|Q)\ge 0$ **and** $KL(Q\|P)\ge 0$, with equality exactly when $P=Q$.
    why: Gibbs' inequality holds for every pair of distributions, so both directions are non-negative;
          “or” would allow one of them to be negative.

S05 | section 4, properties of KL | “never equal” is too strong | KL divergence
    seed: $KL(P||Q) \neq KL(Q||P)$
    fix: In general $KL(P\|Q)\ne KL(Q\|P)$, but they can be equal: always when $P=Q$, and for some P ≠ Q
          too (try P = 1, 4 and Q = 4, 1 below).
    why: KL is not symmetric in general, which is what the note means; “≠” as written claims the two are
          never equal, which the example above disproves.

S06 | Lemma 1, after eq. 4 | the dimension of Σ | Lemma 1
    seed: where  $k$  is the dimension of  $x$  and  $\Sigma$
    fix: $k$ is the dimension of $x$ (and of $\mu$); $\Sigma$ is a $k\times k$ matrix.
    why: A matrix has no single dimension k: Σ has k rows, k columns and k² entries.

S07 | proof of Lemma 1, eq. 6 | sums over a continuous x | Lemma 1
    seed: KL(p(x)||q(x)) = \sum_x p(x) \log \left( \frac{p(x)}{q(x)} \right)
    fix: $KL(p\|q)=\int p(x)\log\frac{p(x)}{q(x)}\,dx$. Every $\sum_x p(x)[\dots]$ in the proof (eq. 6
          and the steps after it) is $\int p(x)[\dots]\,dx=E_{p(x)}[\dots]$.
    why: p and q are densities of a continuous x in ℝᵏ. Eq. 3's sum is for distributions on countably
          many outcomes; a density's value is not a probability, and a sum over all real x means
          nothing.

S08 | proof of Lemma 1, last step | a lost ½ | Lemma 1
    seed: \text{tr}\left(\frac{\Sigma_2^{-1}\Sigma_1}{2}\right) + (\mu_1 - \mu_2)^\top
          \Sigma_2^{-1}(\mu_1 - \mu_2)
    fix: $=\tfrac12\operatorname{tr}(\Sigma_2^{-1}\Sigma_1)+\tfrac12(\mu_1-\mu_2)^\top\Sigma_2^{-1}(\mu_1-\mu_2)$.
    why: The line before has ½(μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂) and the cross term is 0, so the ½ stays; only with it
          does eq. 5 follow (its outer ½ multiplies every term). The Monte Carlo check below measures
          it.

S09 | end of the proof of Lemma 1 (and the loss after it) | $D_{K|L}$ | Lemma 1
    seed: D_{K|L}(p(x)||q(x))
    fix: $D_{KL}(p(x)\,\|\,q(x))$; the same typo is in the restated VAE loss just after the proof.
    why: A typo: the subscript is KL (Kullback–Leibler); “K|L” reads like a conditional.

S10 | before eq. 7 | Baye's | ELBO
    seed: We have Baye's theorem
    fix: Bayes' theorem (or Bayes's theorem, as section 3 spells it).
    why: It is named after Thomas Bayes, so the apostrophe follows the s.

S11 | eq. 9 | a sum over a continuous z | ELBO
    seed: \sum_z q_\phi(z|x) \log \left( \frac{q_\phi(z|x)}{p_\theta(z|x)} \right)
    fix: $\int q_\phi(z|x)\log\frac{q_\phi(z|x)}{p_\theta(z|x)}\,dz$.
    why: z is continuous: q_φ(z|x) is a Gaussian density. The next line of eq. 9 (an expectation) is
          right.

S12 | after eq. 12 | optimise which way? | ELBO
    seed: If we optimize the right hand side of Equation (12), it implies to optimize  $\log
          p_\theta(x)$  and minimize  $KL(q_\phi(z|x)||p_\theta(z|x))$
    fix: **Maximising** the right-hand side of eq. 12 maximises its left-hand side, $\log
          p_\theta(x)-KL(q_\phi(z|x)\|p_\theta(z|x))$: over φ (log p_θ(x) does not depend on φ) that is
          exactly minimising the KL; over θ it raises log p_θ(x) or lowers the KL, not necessarily both.
    why: “Optimise” hides the direction: the right-hand side is the ELBO, to be maximised (its negative,
          the loss, minimised); and the two goals are traded against each other, not reached separately.

S13 | after eq. 13 | a distribution is not a network | ELBO
    seed: where  $q_\phi(z|x)$  is a neural network - encoder;  $p_\theta(x|z)$  is a neural network -
          decoder
    fix: $q_\phi(z|x)=N(\mu_\phi(x),\operatorname{diag}\sigma^2_\phi(x))$ is a distribution whose
          parameters a neural network, the encoder, computes from x; likewise p_θ(x|z) is a distribution
          (Gaussian or Bernoulli) whose mean or logits the decoder computes from z.
    why: A network outputs numbers, not a random z: the randomness comes from sampling the distribution
          the network parameterises, which is exactly what the reparameterisation trick has to handle.

S14 | after eq. 13 (and eq. 14, section 5) | N(0, 1) for a vector | Lemma 1
    seed: The simple choice is  $N(0, 1)$
    fix: $N(0,I_k)$, the k-dimensional standard normal ($k$ = the latent dimension); the same for the
          $N(0,1)$ in the KL formulas and for $\epsilon\sim N(0,1)$ in section 5.
    why: z is a k-dimensional vector and N(0, 1) is a distribution on the real line; the formula that
          follows (with its −k and Σ_k) is the KL to N(0, I).

S15 | after eq. 13 | “any” prior | Lemma 1
    seed: (it can also be any distribution: flower shaped distribution)
    fix: Other priors are possible (a mixture of Gaussians, a learnt prior), but then the simplification
          that follows, the closed-form KL of eq. 14, no longer applies: the KL term must be estimated
          by Monte Carlo, like the reconstruction term.
    why: The very next lines use Lemma 1 with q = N(0, I); they say nothing about a flower-shaped prior,
          which must also have a density one can evaluate and sample from.

S16 | after eq. 13, the trace | the trace is a number | Lemma 1
    seed: which is the sum of the diagonal matrix of  $\Sigma_\phi(x)$
    fix: The trace is the sum of the diagonal **entries** of $\Sigma_\phi(x)$.
    why: A trace is a number; “the sum of the diagonal matrix” would be a matrix.

S17 | after eq. 13, the determinant | an unstated diagonal assumption | Lemma 1
    seed: Furthermore the determinant of  $\Sigma_\phi(x)$  is the product of a diagonal matrix.
    fix: When $\Sigma_\phi(x)$ is **diagonal** (the encoder outputs one variance per latent dimension:
          an assumption the note makes here without saying so), its determinant is the product of its
          diagonal entries.
    why: For a general covariance it is not: [[1, 0.9], [0.9, 1]] has diagonal product 1 but determinant
          0.19. The step from tr and log|Σ| to sums over k needs the diagonal Σ.

S18 | after eq. 13, the KL as sums over k | +k should be −k | Lemma 1
    seed: \sum_k \mu_\phi(x)^2 + \sum_k 1 - \log \left( \prod_k \Sigma_\phi(x) \right)
    fix: $\tfrac12\big(\sum_k\sigma_k^2+\sum_k\mu_k^2-\sum_k 1-\log\prod_k\sigma_k^2\big)$: **minus**
          $\sum_k 1$.
    why: The line above has −k, and k = Σ_k 1; the note's next line (−1 inside the sum) has the right
          sign, so only this line is wrong.

S19 | before eq. 14 | one symbol for two things | Lemma 1
    seed: In practice, we use  $\exp(\Sigma_\phi(x))$  instead of  $\Sigma_\phi(x)$
    fix: In practice the encoder outputs the **log-variance** $\log\sigma^2_\phi(x)$ (any real number)
          and the variance is $\sigma^2_\phi(x)=\exp(\log\sigma^2_\phi(x))>0$, so the KL term is
          $\tfrac12\sum_k(\sigma_k^2+\mu_k^2-1-\log\sigma_k^2)$. This page writes log σ² throughout.
    why: From here on the note's Σ_φ(x) means the log-variance, not the covariance, so eq. 14 seems to
          exponentiate a covariance and $\Sigma_\phi^{1/2}$ in section 5 means something else again.

S20 | section 5 | the loss is not the bound | ELBO
    seed: this loss function is known as the variaional lower bound
    fix: The **negative** of this loss, $-L(\theta,\phi)$, is the variational lower bound (the ELBO);
          minimising L maximises the ELBO.
    why: The right-hand side of eq. 12 is the bound, and eq. 13 defines L as minus that right-hand side.

S21 | section 5 | variaional | ELBO
    seed: variaional
    fix: variational
    why: A typo.

S22 | section 5 | ELBD | ELBO
    seed: (ELBD)
    fix: ELBO
    why: The Evidence Lower BOund: the acronym ends in O.

S23 | eq. 15 | the bound with the wrong sign | ELBO
    seed: L(\theta, \phi) \leq \log p_\theta(x)
    fix: $-L(\theta,\phi)=\text{ELBO}\le\log p_\theta(x)$, i.e. $L(\theta,\phi)\ge-\log p_\theta(x)$.
    why: By eq. 12, log p_θ(x) − ELBO = KL(q‖p(z|x)) ≥ 0; L is minus the ELBO, which turns the
          inequality round. The check below shows both.

S24 | section 5, after eq. 16 | one step is not the optimum | Reparameterisation
    seed: \theta^* = \theta - \eta \nabla_\theta L(\theta, \phi)
    fix: $\theta\leftarrow\theta-\eta\nabla_\theta L(\theta,\phi)$ and
          $\phi\leftarrow\phi-\eta\nabla_\phi L(\theta,\phi)$, repeated; $\theta^*,\phi^*$ is where the
          iteration ends up.
    why: The line above defines θ*, φ* as the argmin of L; one gradient step from θ does not reach it.

S25 | section 5, the θ-gradient | a lost minus sign | Reparameterisation
    seed: \frac{1}{L} \sum_{l=1}^L \nabla_\theta \log p_\theta(x|z^l) (\text{Monte Carlo estimation}) +
          0
    fix: $\nabla_\theta L=-\frac1L\sum_{l=1}^L\nabla_\theta\log p_\theta(x|z^l)+0$, $z^l\sim
          q_\phi(z|x)$.
    why: The loss contains −E log p_θ(x|z), and the minus carries through the gradient; a step against
          the note's expression climbs the loss (measured below). The 0 is right: the KL term has no θ.

S26 | section 5, the φ-gradient | why ∇ and E do not commute | Reparameterisation
    seed: since the derivative for the first term is difficult to take to the sample points
    fix: because the distribution the expectation is over, $q_\phi(z|x)$, itself depends on φ:
          $\nabla_\phi$ cannot be moved inside $E_{q_\phi}$, and a sampled z carries no derivative with
          respect to φ.
    why: It is not a matter of difficulty: differentiating f at the sample points gives E ∇_φ f(z) = 0
          (f does not contain φ), the wrong answer (the naive estimator below).

S27 | section 5 | not a linear transformation | Reparameterisation
    seed: the expectation is rewritten by linear transformation
    fix: The expectation is rewritten by a **change of variables**, $z=g_\phi(\epsilon,x)$ with ε from a
          fixed distribution; for a Gaussian q, $g_\phi$ is affine in ε:
          $\mu_\phi(x)+\sigma_\phi(x)\odot\epsilon$.
    why: What matters is moving φ out of the sampling distribution into a differentiable function; the
          map is affine (a shift as well), and for other distributions need not be linear at all.

S28 | section 5, g_φ | $\epsilon\odot\Sigma^{1/2}$ | Reparameterisation
    seed: g_{\phi}(\epsilon, x) = \mu_{\phi}(x) + \epsilon \odot \Sigma_{\phi}^{1/2}(x) = z \sim
          N(\mu(x), \Sigma(x))
    fix: $z=g_\phi(\epsilon,x)=\mu_\phi(x)+\sigma_\phi(x)\odot\epsilon$ with
          $\sigma_\phi(x)=\exp(\tfrac12\log\sigma^2_\phi(x))$, the vector of standard deviations; then
          $z\sim N(\mu_\phi(x),\operatorname{diag}\sigma^2_\phi(x))$. (For a full covariance:
          $\mu+C\epsilon$ with $CC^\top=\Sigma$.)
    why: ⊙ multiplies vectors entry by entry, so $\Sigma^{1/2}$ can only be the square roots of a
          diagonal; and the note has just made Σ_φ the log-variance, whose square root is not the
          standard deviation.
          “g = z ∼ N” also mixes up a value with its distribution.

S29 | section 5 | which distribution is free of φ | Reparameterisation
    seed: This transformation makes sure that the distribution is independent of  $\phi$
    fix: … makes sure that the distribution we **sample from**, $p(\epsilon)=N(0,I)$, is independent of
          φ; φ enters only through the differentiable $g_\phi$, so $\nabla_\phi
          E_{p(\epsilon)}f(g_\phi(\epsilon,x))=E_{p(\epsilon)}\nabla_\phi f(g_\phi(\epsilon,x))$.
    why: The distribution of z still depends on φ (training the encoder changes it); what changed is
          which distribution the expectation is taken over.

S30 | section 5, the φ-gradient | $z^l\sim p(\epsilon)$ | Reparameterisation
    seed: E_{z^l \sim p(\epsilon)} \log(p_{\theta}(x|z^l))
    fix: $E_{\epsilon\sim p(\epsilon)}\log p_\theta(x\,|\,g_\phi(\epsilon,x))$, estimated with
          $\epsilon^l\sim p(\epsilon)$ and $z^l=g_\phi(\epsilon^l,x)$.
    why: p(ε) is the noise's distribution; z is not drawn from it (z ~ N(μ_φ, σ²_φ)), and writing z^l
          hides the dependence on φ that the gradient needs.

S31 | section 5, the φ-gradient | S samples or L? | Monte Carlo
    seed: \frac{1}{S} \sum_{l=1}^S \nabla_{\phi} \log p_{\theta}(x|z^l)
    fix: $-\frac1L\sum_{l=1}^L\nabla_\phi\log p_\theta(x\,|\,g_\phi(\epsilon^l,x))$: one name for the
          number of samples throughout (and not the loss's own letter L).
    why: The θ-gradient averages L samples and the φ-gradient S, for the same Monte Carlo estimate; and
          L also names the loss, so 1/L can be misread as dividing by the loss.

S32 | section 5, last paragraph | not an entropy | AE vs VAE
    seed: exclusively incorporates the log entropy term
    fix: … only the **reconstruction term** (the expected log-likelihood $E_q\log p_\theta(x|z)$) …
    why: log p_θ(x|z) is a log-likelihood. An entropy is −E_q log q(z|x), the expected log-density of q
          under q itself; it sits inside the KL term, not in the reconstruction term.

S33 | section 5, last paragraph | KL alone does not blur, it erases | AE vs VAE
    seed: This can potentially result in image blurriness and hinder effective learning from the
          training data.
    fix: With the KL term alone the optimum is $q_\phi(z|x)=N(0,I)$ for **every** x: z carries no
          information about x (posterior collapse) and the decoder gets no training signal at all (the
          KL term has no θ). Blur is a different effect: it comes from the reconstruction term with a
          Gaussian or Bernoulli likelihood, whose best guess for an uncertain z is an average of images,
          and it grows when the KL term weighs more (β > 1).
    why: Nothing is learnt from the data, which is worse than blur; blur belongs to a trained decoder
          averaging over the codes it cannot tell apart.
"""


def parse(source: str) -> tuple[Slip, ...]:
    """The records of ``source`` (see ``SOURCE``) as slips; ``ValueError`` on a malformed record."""
    records: list[list] = []
    for line in source.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            head = [part.strip() for part in line.split(" | ")]
            if len(head) != 4:
                raise ValueError(f"a slip's header needs 4 fields: {line!r}")
            records.append([head, {}, None])
            continue
        if not records:
            raise ValueError(f"a field before the first header: {line!r}")
        m = re.match(r"\s+(seed|fix|why): (.*)$", line)
        fields = records[-1][1]
        if m:
            records[-1][2] = m.group(1)
            fields[m.group(1)] = m.group(2).strip()
        elif records[-1][2] is None:
            raise ValueError(f"a continuation line before any field: {line!r}")
        else:
            fields[records[-1][2]] += " " + line.strip()
    out = []
    for (sid, where, title, tab), fields, _ in records:
        if set(fields) != {"seed", "fix", "why"}:
            raise ValueError(f"{sid}: needs seed, fix and why (has {sorted(fields)})")
        out.append(Slip(sid, where, title, fields["seed"], fields["fix"], fields["why"], tab))
    return tuple(out)


SLIPS: tuple[Slip, ...] = parse(SOURCE)
BY_ID = {s.id: s for s in SLIPS}


def for_tab(tab: str) -> list[Slip]:
    """The slips shown on one tab of the Theory page, in the seed's order."""
    return [s for s in SLIPS if s.tab == tab]


def marker(slip: Slip) -> str:
    """The mark that heads the slip on the page: ``✏️ S07``."""
    return f"✏️ {slip.id}"


def label(slip: Slip) -> str:
    """The expander label: marker, where in the note, and the slip in a few words."""
    return f"{marker(slip)} · the note, {slip.where}: {slip.title}"


def seed_markdown(text: str) -> str:
    """The seed's text for display: prose (with or without inline ``$...$``) as it is; a
    fragment of a displayed formula (no ``$``, but LaTeX: a backslash, ``_{`` or ``^``)
    wrapped in ``$...$``."""
    text = " ".join(text.split())
    is_formula = "$" not in text and any(t in text for t in ("\\", "_{", "^"))
    return f"${text}$" if is_formula else text


def markdown(slip: Slip) -> str:
    """The slip for the page: the seed's text, then the correction and the reason."""
    return (f"**{marker(slip)}** · the note ({slip.where}) writes:\n\n> {seed_markdown(slip.seed)}\n\n"
            f"**Correction.** {slip.correction}\n\n**Why.** {slip.reason}")


def overview_markdown() -> str:
    """All slips in one list, each with its tab: the page's overview."""
    return "\n".join(f"{i}. **{s.id}** · {s.where[0].upper()}{s.where[1:]}: {s.title}"
                     f"{'' if s.title.endswith('?') else '.'} → tab *{s.tab}*"
                     for i, s in enumerate(SLIPS, 1))


def normalise(text: str) -> str:
    """Runs of whitespace to one space: how quotes are compared with the seed."""
    return re.sub(r"\s+", " ", text).strip()
