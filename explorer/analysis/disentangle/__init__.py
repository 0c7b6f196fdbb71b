"""The disentanglement lab: β's other face, measured on images whose factors are known.

:mod:`.metrics` defines the measures (MIG, DCI), :mod:`.lab` measures a sweep of runs on
:mod:`explorer.data.shapes` (per run, then per β over seeds, with traversal pictures) and
keeps it on disk, :mod:`.reading` says in words what the numbers show.
"""
