"""The Theory page's computations: every number it shows, each one a call into
:mod:`explorer.objective`.

Nothing here re-implements a formula of the seed. The KL divergences (eq. 3,
Lemma 1 / eq. 5, the KL term of eq. 14), the losses (eq. 1, eq. 2 / 13), the
reparameterisation (section 5) and the bounds (ELBO, IWAE) come from ``objective``;
the modules below add the *checks* around them: Monte Carlo estimates with standard
errors and running means, gradient estimators and their variance, parameter sweeps,
input validation with readable messages. Functions take plain values (floats, numpy
arrays) or a model and return plain values, so the page can cache them.

One module per part of the seed; this one gathers their names for the page and tests:

- :mod:`.kl`: eq. 3 and Lemma 1 (eq. 4-6, the diagonal case of eq. 14);
- :mod:`.elbo`: the ELBO (eq. 7-13, 15) and IWAE-k on an exact model;
- :mod:`.gradients`: section 5, the φ- and θ-gradients;
- :mod:`.models`: sections 1-2 and the Monte Carlo loss on trained models;
- :mod:`.slips`: the seed's slips, each with its correction;
- :mod:`.equations`: the seed's numbered equations as the page shows them;
- :mod:`.views`: what the page shows (labels, numbers, captions) from the results.
"""
from __future__ import annotations

from .base import MC_MAX, running_mean_se
from .elbo import (ENCODER_SLIDERS, IWAE_DRAWS, IWAE_KS, demo_elbo, demo_iwae, demo_linear_gaussian,
                   demo_point, demo_sweep, elbo_check, elbo_sweep, iwae_curve, iwae_draws, move_encoder,
                   sample_x)
from .gradients import (GRAD_LS, GRAD_SIGMA_RANGE, MU_MAX, PARAMS, TEST_FUNCTIONS, exact_gradient,
                        function_and_density, gradient_summary, gradient_variance, naive_estimate,
                        reparam_estimates, score_estimates, theta_gradient_sign, variance_ratio)
from .kl import (COND_FLOOR, GAUSSIAN_FIELDS, MAX_OUTCOMES, MEAN_MAX, SIGMA_MAX, SIGMA_MIN, check_mean,
                 covariance_2d, diagonal_vs_eq14, discrete_kl, ellipse, gaussian_2d, kl_lemma1, mc_kl,
                 parse_weights, proof_half_check, regularise_covariance, two_gaussians_2d)
from .models import LOSS_LS, ae_vs_vae, loss_spread, pick_batch

__all__ = [name for name in dir() if not name.startswith("_") and name != "annotations"]  # all of the above
