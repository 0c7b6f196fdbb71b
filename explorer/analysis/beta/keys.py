"""The keys of a β sweep's report (``python -m explorer sweep-report``), each with its
meaning: what :mod:`.report` writes and ``sweep-report --help`` prints. Plain text, no
torch, so that ``python -m explorer --help`` starts without it."""
from __future__ import annotations

#: the keys of a report row, each with its meaning (``sweep-report --help`` prints these)
ROW_HELP = {
    "beta": "β, the weight of the KL term the runs were trained with",
    "seeds": "how many training seeds the row's numbers average (the shipped sweeps: several; a "
             "sweep of one's own: 1)",
    "recon_sharpness": "the mean sharpness of the reconstructions of validation images ÷ that of "
                       "their inputs (sharpness = the share of an image's spectral energy at "
                       "periods under 5 pixels, its mean removed, so contrast does not count); "
                       "1 = as sharp as the inputs. Higher is better",
    "recon_sharpness_se": "its standard error: over the training seeds, plus the images' own "
                          "error (the same images for every seed); with one seed, over the images",
    "sample_quality": "prior samples judged by a calibrated classifier with a 'none of these' class "
                      "(trained on the data's training images against noise, blurs and mixtures): "
                      "the harmonic mean of precision (share of samples that lie on the data's "
                      "manifold in the classifier's features, each counted by the classifier's "
                      "probability that it is an image of the data at all) and recall (share of the "
                      "data the samples cover), averaged over 5 draws of z; 0 to 1. Higher is better",
    "sample_quality_se": "its standard error: over the training seeds; with one seed, over the "
                         "5 draws of z",
    "gap_iwae": "train − validation IWAE-k bound, nats per image: overfitting, without most of "
                "the encoder's amortisation gap. Lower is less overfitting",
    "gap_iwae_se": "its standard error (nats): over the training seeds, plus the images' own "
                   "error; with one seed, over the images",
    "val_iwae": "validation IWAE-k bound, nats per image: an estimate of log p(x) from below. "
                "Higher is better",
    "val_iwae_se": "its standard error (nats), as for gap_iwae",
    "active_units": "latent dimensions whose posterior mean varies across validation images "
                    "(variance > 0.01), the mean over seeds; the others have collapsed onto the prior",
    "point_posterior": "true when q(z|x) shrank to a point (KL > 50 nats per latent dimension, "
                       "β = 0): then val_iwae and gap_iwae say how far out in the prior's tails the "
                       "codes land, not how well the images are fitted; compare them with no other row",
}
ROW_KEYS = tuple(ROW_HELP)

SWEET_HELP = ("the β values whose sample_quality lies within two standard errors (of the "
              "difference) of the best β's: the sweet spot, a set when the data cannot single one out")

#: the keys of the report's "null" object: what the sample-quality measure gives images that
#: are not samples of the data at all (each should be near 0), and how well calibrated it is
NULL_HELP = {
    "uniform_noise_quality": "sample quality of uniform noise images (each pixel uniform in [0, 1])",
    "mean_image_quality": "sample quality of copies of the mean training image",
    "blurred_quality": "sample quality of the validation images under a Gaussian blur of σ = 1 px",
    "real_images_quality": "sample quality of real training images, for comparison: what a "
                           "perfect model's samples would score",
    "classifier_ece": "the classifier's expected calibration error on the validation images (15 "
                      "bins of confidence; 0 = its confidence is its accuracy)",
    "classifier_accuracy": "the classifier's accuracy on the validation images",
}
