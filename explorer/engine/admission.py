"""One check before anything is queued or stored for a person (issue 25: a shared server no
visitor can break). Every way to start a run (Train, the β lab's sweeps, a pushed start, a
copy) goes through :meth:`Engine.submit` / :meth:`Engine.submit_many`, and every way to store
one (an imported run zip, an own model, an uploaded data file) through
:meth:`Engine.admit_store` / :meth:`Engine.save_upload`; each calls :func:`admit` here, which
asks, in order:

1. the engine's ``gate`` (the class rules, :class:`explorer.classroom.rules.Gate`, which the
   app installs: the engine cannot import the classroom, which sits above it): a student of
   an open class may start or store only what the class's settings allow, and what they start
   trains with the class's run-time limit and is recorded as a class run;
2. the person's caps (:class:`~.quotas.Quotas`) and the queue's as a whole
   (``LATENT_EXPLORER_MAX_QUEUED``);
3. each run's memory estimate against its budget (:mod:`explorer.memory`;
   ``LATENT_EXPLORER_RUN_MEMORY_MB``), which its worker then holds it to.

Each refusal is an :class:`EngineError` whose message names the setting that would change it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import memory
from .. import settings as settings_mod
from ..text import count
from . import quotas
from .errors import EngineError, NotAllowed


@dataclass
class Ticket:
    """What an admitted request carries into the engine: the class's say (its run-time
    limit, the class to record the runs in) and each run's memory budget."""
    owner: str = ""
    gate: dict = field(default_factory=dict)
    memory_bytes: int | None = None

    @property
    def max_seconds(self) -> float | None:
        return self.gate.get("max_seconds")

    @property
    def max_seconds_setting(self) -> str:
        return self.gate.get("max_seconds_setting", "")


def memory_budget(engine, memory_mb: int | None = None) -> int:
    """Bytes one run may use on this server: ``memory_mb``, else the setting, else the
    machine's share (:func:`explorer.memory.server_budget`)."""
    return memory.server_budget(memory_mb or settings_mod.get().run_memory_mb, engine.max_jobs)


def admit(engine, owner: str, *, configs=(), stored: int = 0, size: int = 0, upload: bool = False,
          iwae_k: int = 0, memory_mb: int | None = None, estimate: bool = True,
          name: str = "this file") -> Ticket:
    """Admit ``configs`` to start, ``stored`` runs to store or an upload of ``size`` bytes for
    ``owner`` (the module's three checks; ``name``: the file's, for a message), or raise
    :class:`EngineError` saying why."""
    ticket = Ticket(owner=owner, memory_bytes=memory_budget(engine, memory_mb))
    if owner and engine.gate is not None:
        try:
            ticket.gate = engine.gate.admit(owner, configs=tuple(configs), stored=stored, upload=upload) or {}
        except ValueError as e:                   # the class's refusal, naming its setting
            raise NotAllowed(f"{name}: {e}" if upload else str(e)) from None
    if owner:
        why = caps_refusal(engine, owner, runs=len(configs), stored=stored, size=size, name=name)
        if why:
            raise EngineError(why)
    if estimate:
        s = settings_mod.get()
        for config in configs:
            try:
                memory.check(config, ticket.memory_bytes, iwae_k=iwae_k,
                             max_bytes=engine.dataset_bytes, max_features=s.max_features,
                             max_examples=s.max_examples)
            except memory.BudgetExceeded as e:
                raise EngineError(str(e)) from None
    return ticket


def caps_refusal(engine, owner: str, *, runs: int = 0, stored: int = 0, size: int = 0,
                 name: str = "this file") -> str | None:
    """Why ``owner`` may not queue ``runs`` more runs, store ``stored`` more or ``size`` more
    bytes (an upload), or None: the queue's cap, the person's queued, held and disk caps."""
    q = engine.quotas
    with engine._lock:
        queue = list(engine._queue)
        queued = sum(1 for r in queue if engine._jobs[r].owner == owner)
    if runs:
        why = quotas.queue_full(len(queue) + runs - 1, engine.max_queued)
        if why:
            return why
        if queued + runs > q.max_queued_per_owner:
            if runs == 1:
                return q.queued_refusal(queued)
            return (f"this asks for {runs} runs in the queue at once and you have {queued} waiting; one "
                    f"person may have {q.max_queued_per_owner} (LATENT_EXPLORER_MAX_QUEUED_PER_OWNER). "
                    f"Ask for fewer")
    more = runs + stored
    if more:
        held = engine.runs_of(owner)
        if held + more > q.max_runs_per_owner:
            if more == 1:
                return q.runs_refusal(held)
            return (f"you have {count(held, 'run')} on this server and this asks for {more} more; the "
                    f"limit (LATENT_EXPLORER_MAX_RUNS_PER_OWNER) is {q.max_runs_per_owner}. Delete runs "
                    f"you no longer need on the Runs page")
    used = engine.disk_bytes_of(owner)
    if size:
        return q.upload_refusal(name, used, size)
    if more:
        return q.disk_refusal(used)
    return None


def admitted(engine, ticket: Ticket, run_ids) -> None:
    """Record runs a ticket admitted as their class's (a student's; nothing otherwise)."""
    if ticket.gate and ticket.owner and engine.gate is not None:
        engine.gate.admitted(ticket.gate, ticket.owner, list(run_ids))
