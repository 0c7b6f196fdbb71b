"""The keys of a factor sweep's report (``python -m explorer sweep-report shapes``), each
with its meaning: what :mod:`.lab` writes and ``sweep-report --help`` prints. Plain text, no
torch, so that ``python -m explorer --help`` starts without it."""
from __future__ import annotations

#: the keys of a report row (``sweep-report shapes``), each with its meaning
ROW_HELP = {
    "beta": "β, the weight of the KL term the runs were trained with",
    "n_seeds": "training seeds at this β (each a separate run; the numbers are their mean)",
    "mig": "mutual information gap (Chen et al. 2018), 0 to 1: for each known factor, the "
           "information the best latent dimension holds about it minus what the second best "
           "holds, over the factor's entropy, averaged over the factors. Higher: each factor "
           "sits in one dimension of its own",
    "mig_se": "the standard error of mig over the seeds",
    "dci": "DCI disentanglement (Eastwood & Williams 2018), 0 to 1: how much each latent "
           "dimension that matters predicts only one factor, by the importance trees give it",
    "dci_se": "the standard error of dci over the seeds",
    "completeness": "DCI completeness: how much each factor is predicted by one dimension",
    "completeness_se": "its standard error over the seeds",
    "informativeness": "DCI informativeness: the trees' mean accuracy at predicting the factors "
                       "from the code, on images they were not fitted on",
    "informativeness_se": "its standard error over the seeds",
    "active_units": "latent dimensions the model uses (posterior mean varies across images, "
                    "variance > 0.01), mean over the seeds",
    "val_recon": "validation reconstruction error, nats per image (Bernoulli), mean over the seeds",
    "val_kl": "validation KL(q(z|x) || p(z)), nats per image, mean over the seeds",
}
ROW_KEYS = tuple(ROW_HELP)
