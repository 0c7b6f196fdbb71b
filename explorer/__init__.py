"""Latent Explorer: the library behind the app (no Streamlit here, except in ``explorer.ui``).

Modules, in the order data flows through them: ``config`` -> ``data`` -> ``models``
-> ``objective`` (the seed's mathematics) -> ``training`` -> ``jobs`` (background
runs) -> ``store`` (runs on disk); ``analysis`` and ``figures`` serve the pages;
``cli`` is ``python -m explorer``.
"""
__version__ = "0.1.0"
