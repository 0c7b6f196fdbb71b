"""The engine's parts on their own: the queue's order and the per-owner caps (quotas), a
run's status machine (Job.transition). The engine with both backends: tests/test_jobs.py."""
from __future__ import annotations

import pytest

from explorer.config import RunConfig
from explorer.engine import quotas
from explorer.engine.record import MOVES, Job, StatusError
from explorer.runs import ENDED, Status

OWNERS = {"a1": "ann", "a2": "ann", "b1": "bob", "n1": "", "a3": "ann"}


def test_next_queued_is_first_in_first_out_between_equals():
    assert quotas.next_queued(["b1", "a1", "a2"], OWNERS.get, {}, 2) == "b1"
    assert quotas.next_queued([], OWNERS.get, {}, 2) is None


def test_next_queued_skips_owners_at_their_running_cap():
    queue = ["a1", "a2", "b1", "a3"]
    assert quotas.next_queued(queue, OWNERS.get, {"ann": 2}, 2) == "b1"
    assert quotas.next_queued(queue, OWNERS.get, {"ann": 1}, 2) == "b1"      # bob's first before ann's second
    assert quotas.next_queued(queue, OWNERS.get, {"ann": 1, "bob": 2}, 2) == "a1"
    assert quotas.next_queued(["a1", "a2"], OWNERS.get, {"ann": 2}, 2) is None   # all must wait


def test_the_empty_owner_has_no_running_cap():
    assert quotas.next_queued(["n1", "a1"], OWNERS.get, {"": 50, "ann": 5}, 2) == "n1"


def test_running_by_owner_counts_each_owner():
    assert quotas.running_by_owner(["ann", "bob", "ann"]) == {"ann": 2, "bob": 1}


def test_each_cap_names_its_setting_and_holds_at_its_limit():
    q = quotas.Quotas(max_running_per_owner=2, max_queued_per_owner=3, max_runs_per_owner=4,
                      disk_bytes_per_owner=10 * 2**20)
    assert q.queued_refusal(2) is None
    assert "3 runs waiting" in q.queued_refusal(3) and "LATENT_EXPLORER_MAX_QUEUED_PER_OWNER" in q.queued_refusal(3)
    assert q.runs_refusal(3) is None and "LATENT_EXPLORER_MAX_RUNS_PER_OWNER) is 4" in q.runs_refusal(4)
    assert q.disk_refusal(10 * 2**20 - 1) is None
    assert "10.0 MiB" in q.disk_refusal(10 * 2**20) and "LATENT_EXPLORER_DISK_MB_PER_OWNER" in q.disk_refusal(10 * 2**20)
    assert q.upload_refusal("x.npz", 2**20, 9 * 2**20) is None                  # exactly full: fits
    assert q.upload_refusal("x.npz", 2**20, 9 * 2**20 + 1).startswith("x.npz: your runs and uploads")


def _job(status: Status = Status.QUEUED) -> Job:
    return Job(run_id="r", owner="ann", config=RunConfig(), run_dir=None, status=status)


def test_a_run_moves_through_its_life():
    job = _job()
    for s in (Status.STARTING, Status.RUNNING, Status.PAUSED, Status.RUNNING, Status.RUNNING):
        job.transition(s)
        assert job.status == s
    job.transition(Status.STOPPED, "stopped by the user")
    assert (job.status, job.reason) == (Status.STOPPED, "stopped by the user")


@pytest.mark.parametrize("start", [Status.QUEUED, Status.STARTING, Status.RUNNING, Status.PAUSED])
def test_every_live_status_may_end(start):
    for end in ENDED:
        job = _job(start)
        job.transition(end, "why")
        assert job.status == end and job.reason == "why"


@pytest.mark.parametrize("start,new", [(Status.QUEUED, Status.RUNNING), (Status.QUEUED, Status.PAUSED),
                                       (Status.RUNNING, Status.STARTING), (Status.PAUSED, Status.QUEUED),
                                       (Status.FINISHED, Status.RUNNING), (Status.STOPPED, Status.FAILED)])
def test_illegal_moves_are_refused_and_change_nothing(start, new):
    job = _job(start)
    with pytest.raises(StatusError, match=f"{start} -> {new}"):
        job.transition(new)
    assert job.status == start


def test_ended_statuses_are_final():
    assert not any(s in MOVES for s in ENDED)
    assert set(MOVES) == {Status.QUEUED, Status.STARTING, Status.RUNNING, Status.PAUSED}
