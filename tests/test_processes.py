"""The server's child processes (explorer.processes): forked from a fork server, each takes
the server's environment as it is at the child's start (not the fork server's, as it was at
that start), and a child that works in a folder fails with one line, whatever ended it."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest

from explorer import processes

MARK = "LATENT_EXPLORER_TEST_MARK"


def _environment_seen(conn) -> None:
    conn.send(os.environ.get(MARK))


def _seen(proc, r, w):
    processes.start(proc)
    w.close()
    try:
        return r.recv() if r.poll(120) else "no answer"
    finally:
        proc.join(30)


def test_a_child_sees_the_environment_as_it_is_when_the_child_starts(monkeypatch):
    monkeypatch.delenv(MARK, raising=False)
    r, w = mp.Pipe(duplex=False)
    assert _seen(processes.process(_environment_seen, (w,), name="test"), r, w) is None   # the fork server runs
    monkeypatch.setenv(MARK, "set after the fork server started")
    r, w = mp.Pipe(duplex=False)
    assert _seen(processes.process(_environment_seen, (w,), name="test"), r, w) == "set after the fork server started"
    if processes.context().get_start_method() == "forkserver":     # what a bare fork would have seen
        r, w = mp.Pipe(duplex=False)
        bare = processes.context().Process(target=_environment_seen, args=(w,), name=processes.PREFIX + "test")
        assert _seen(bare, r, w) is None


def _fails(folder, how: str) -> None:
    (folder / "started").write_text("yes")
    if how == "value":
        raise ValueError("the batch size is larger than\nthe data; lower Batch size")
    if how == "bug":
        raise KeyError("no such preset")
    if how == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "slow":
        time.sleep(120)


@pytest.mark.parametrize("how, line", [
    ("value", "ValueError: the batch size is larger than the data; lower Batch size"),
    ("bug", "KeyError: 'no such preset'"),
    ("signal", "killed by signal 9"),
])
def test_a_child_in_a_folder_fails_with_one_line(tmp_path, how, line):
    with pytest.raises(processes.ChildError) as got:
        processes.run_in(tmp_path, _fails, (how,), name="test", timeout=120)
    assert str(got.value) == line
    assert (tmp_path / "started").read_text() == "yes"          # it ran, in that folder


def test_a_child_past_its_time_is_killed(tmp_path):
    with pytest.raises(TimeoutError):
        processes.run_in(tmp_path, _fails, ("slow",), name="test", timeout=1)
    assert (tmp_path / "started").is_file()
    assert not [c for c in mp.active_children() if c.name == processes.PREFIX + "test"]


def test_a_child_that_works_leaves_its_files(tmp_path):
    processes.run_in(tmp_path, _fails, ("works",), name="test", timeout=120)
    assert (tmp_path / "started").read_text() == "yes" and not (tmp_path / processes.ERROR_FILE).exists()
