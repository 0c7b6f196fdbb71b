"""Latent Explorer in a notebook: the latent plane as a widget (:mod:`.widget`) and the live
view of :func:`explorer.fit` (``live=True``, :mod:`.live`).

Both are anywidgets (anywidget's standard ES-module-and-traitlets contract), so they work in
JupyterLab, Jupyter Notebook, VS Code and marimo; their JavaScript is the app's latent-plane
component (``explorer/ui/components/latent_plane``: one source, built files committed), so
the decoder runs in the browser exactly as on the app's pages.
"""
