"""Runs leave the app in the formats practitioners use.

* :mod:`.tensorboard`: TensorBoard event files (every scalar, the β/lr changes, images per
  epoch, the latent means as an embedding projector set);
* :mod:`.script`: one readable, runnable PyTorch file that reproduces a run (its template is
  ``train_vae.py.tmpl`` beside it);
* :mod:`.own_model`: open a model trained elsewhere (a run zip, or safetensors weights with
  a config.json) in Explore, never unpickling anything;
* :mod:`.onnx`: the encoder and decoder as ONNX (written with the in-browser decoding).

Nothing here imports Streamlit; ``python -m explorer export`` (:mod:`explorer.cli_export`)
and the Runs and Explore pages call these functions.
"""
