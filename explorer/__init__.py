"""Latent Explorer: the library behind the app (no Streamlit here, except in ``explorer.ui``).

Modules, in the order data flows through them: ``config`` -> ``data`` -> ``models``
-> ``objective`` (the seed's mathematics) -> ``training`` (one run loop) -> ``engine``
(background runs: protocol, server, worker) -> ``store`` (runs on disk and their index);
``runs`` is the one shape of a run and the one rule of who may change it; ``probe`` what a
page draws of a model; ``analysis`` and ``figures`` serve the pages; ``cli`` is
``python -m explorer``.
"""
__version__ = "0.1.0"
