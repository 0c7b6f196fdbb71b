"""Latent Explorer: the library behind the app (no Streamlit here, except in ``explorer.ui``).

The Python API (docs/API.md)::

    import explorer
    run = explorer.fit("digits", latent_dim=2, beta=1.0)    # -> explorer.api.Run
    run.explore()                                            # a notebook widget
    run = explorer.open("digits-vae-z2-b1")                  # any run, by folder or id
    tracker = explorer.track("my-loop")                      # your own training loop, in the app

They are loaded on first use, so ``import explorer`` (and ``python -m explorer --help``,
and the app's start-up) stays light.

Modules, in the order data flows through them: ``config`` -> ``data`` -> ``models``
-> ``objective`` (the seed's mathematics) -> ``training`` (one run loop) -> ``engine``
(background runs: protocol, server, worker) -> ``store`` (runs on disk and their index);
``runs`` is the one shape of a run and the one rule of who may change a run; ``probe`` what a
page draws of a model; ``analysis`` and ``figures`` serve the pages; ``cli`` is
``python -m explorer``; ``options`` names the settings for the CLI and the API; ``api``,
``tracking`` and ``notebook`` are the Python API.
"""
__version__ = "0.1.0"
__all__ = ["fit", "open", "track", "Run", "Tracker"]

_LAZY = {"fit": "api", "open": "api", "Run": "api", "track": "tracking", "Tracker": "tracking"}


def __getattr__(name: str):
    """``explorer.fit`` etc., imported when first used (torch and the rest load then)."""
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'explorer' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
