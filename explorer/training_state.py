"""Everything a :class:`~explorer.training.Trainer` needs to go on exactly where it stopped,
as tensors and JSON (:func:`capture`), and back (:func:`restore`).

Beyond the weights that is: Adam's moments and step counts, the two generators (the
reparameterisation and binarisation noise; the batch order), the current epoch's order and
the position in it, the step, epoch and sample counters, the base β and learning rate and
their live changes, and the last validation numbers. With these, a resumed run takes the
same batches with the same noise and the same updates as a run that never stopped, so its
losses are equal (``tests/test_resume.py``). :mod:`explorer.store.trainer_state` writes them.
"""
from __future__ import annotations

import torch

_COUNTERS = ("step_count", "epoch", "samples_seen", "beta", "lr", "events", "last_val", "_pos")


def capture(trainer) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, meta)``: the trainer's state beside its weights."""
    opt = trainer.optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"gen.noise": trainer.generator.get_state(),
                                        "gen.shuffle": trainer._shuffle_gen.get_state()}
    plain: dict = {}
    for i, state in opt["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{i}.{name}"] = value
            else:
                plain[f"{i}.{name}"] = value
    if trainer._perm is not None:
        tensors["perm"] = trainer._perm
    meta = {name: getattr(trainer, name) for name in _COUNTERS}
    meta.update(param_groups=opt["param_groups"], optim_plain=plain, device=trainer.device.type,
                steps_per_epoch=trainer.steps_per_epoch)
    return tensors, meta


def restore(trainer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Put a :func:`capture` back into a freshly built trainer of the same config (its
    weights already loaded). Raises ValueError when the state does not fit it."""
    if meta.get("device") != trainer.device.type:
        raise ValueError(f"the run was trained on {meta.get('device')!r}; resume it there (--device "
                         f"{meta.get('device')}) for the same numbers")
    if meta.get("steps_per_epoch") != trainer.steps_per_epoch:
        raise ValueError("the data differ from the run's (another number of batches per epoch); "
                         "give the run's own data")
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = value
    for key, value in (meta.get("optim_plain") or {}).items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    trainer.generator.set_state(tensors["gen.noise"])
    trainer._shuffle_gen.set_state(tensors["gen.shuffle"])
    trainer._perm = tensors["perm"].to(trainer.device) if "perm" in tensors else None
    for name in _COUNTERS:
        setattr(trainer, name, meta[name])
    for g in trainer.optimizer.param_groups:          # the lr in force (a live change included)
        g["lr"] = trainer.lr
