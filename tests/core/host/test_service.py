"""The service: one worker thread owns the model; newest request wins per channel; shutdown leaves no thread."""

import threading
import time

import pytest

from workbench.errors import Cancelled
from workbench.service import WorkbenchService


def test_all_jobs_run_on_one_worker_thread():
    service = WorkbenchService()
    try:
        threads = [service.submit(lambda _e, _t: threading.get_ident()).result(5) for _ in range(4)]
        assert len(set(threads)) == 1 and threads[0] != threading.get_ident()
    finally:
        service.shutdown()


def test_newest_request_on_a_channel_cancels_the_previous_one():
    service = WorkbenchService()
    started = threading.Event()

    def slow(_engine, token):
        started.set()
        for _ in range(200):
            token.raise_if_cancelled()
            time.sleep(0.01)
        return "slow finished"

    try:
        first = service.submit(slow, channel="heatmap")
        started.wait(5)
        queued = service.submit(lambda _e, _t: "queued", channel="heatmap")
        newest = service.submit(lambda _e, _t: "newest", channel="heatmap")
        assert newest.result(5) == "newest"
        with pytest.raises(Cancelled):
            first.result(5)
        assert queued.future.cancelled() or isinstance(queued.future.exception(5), Cancelled)
    finally:
        service.shutdown()


def test_shutdown_cancels_running_work_and_joins_the_worker():
    service = WorkbenchService()
    started = threading.Event()

    def forever(_engine, token):
        started.set()
        while True:
            token.raise_if_cancelled()
            time.sleep(0.005)

    job = service.submit(forever)
    started.wait(5)
    service.shutdown(wait=True)
    assert isinstance(job.future.exception(1), Cancelled)
    assert not [t for t in threading.enumerate() if t.name.startswith("workbench-model")]
    with pytest.raises(RuntimeError, match="shut down"):
        service.submit(lambda _e, _t: None)
