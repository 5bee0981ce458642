"""The job runner's cancel tokens: one per queued or running job, none left once jobs end, even when a cancel
arrives after its job ended (the end event and the cancel cross each other on the way)."""

from __future__ import annotations

import threading
import time

import pytest

from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.jobs.runner import JobRunner


class Blocker(rq.Request):
    """A request without a handler (it fails at once), whose end event we can hold up."""


@pytest.fixture
def runner():
    events: list[ev.Event] = []
    release = threading.Event()

    def send(event: ev.Event) -> None:
        release.wait(300)  # the first job's end waits here, so later jobs are queued while it "runs"
        events.append(event)

    runner = JobRunner(send, engine=object())  # type: ignore[arg-type]  # these requests never reach the engine
    thread = threading.Thread(target=runner.serve, daemon=True)
    thread.start()
    runner.events, runner.release = events, release
    yield runner
    runner.release.set()
    runner.stop()
    thread.join(300)


def _wait_for(runner, n: int) -> list[tuple[type, int]]:
    deadline = time.monotonic() + 300  # the first job imports the handler modules (torch)
    while len(runner.events) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return [(type(e), e.job) for e in runner.events]


def test_a_cancel_that_arrives_after_its_job_ended_leaves_no_token(runner):
    runner.release.set()
    runner.put(1, Blocker())
    runner.put(2, Blocker())
    assert _wait_for(runner, 2) == [(ev.JobFailed, 1), (ev.JobFailed, 2)]
    runner.cancel(1)  # late: both jobs have ended
    runner.cancel(2)
    assert runner.tokens_held == 0


def test_a_queued_job_cancelled_while_another_runs_ends_cancelled(runner):
    runner.put(1, Blocker())
    runner.put(2, Blocker())
    runner.cancel(2)  # job 1 is still ending (its end event is held up)
    runner.release.set()
    assert _wait_for(runner, 2) == [(ev.JobFailed, 1), (ev.JobCancelled, 2)]
    assert runner.tokens_held == 0


def test_a_cancel_that_overtook_its_job_cancels_it_when_it_arrives(runner):
    runner.put(1, Blocker())
    runner.cancel(2)  # job 2 was not put yet
    runner.put(2, Blocker())
    runner.release.set()
    assert _wait_for(runner, 2) == [(ev.JobFailed, 1), (ev.JobCancelled, 2)]
    assert runner.tokens_held == 0
