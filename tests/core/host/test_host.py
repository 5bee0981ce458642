"""The model process: operations by name, events back, cancel, crash detection, clean shutdown."""

import threading

import pytest

from workbench.errors import Cancelled, WorkbenchError
from workbench.host import ModelHost
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import SteeringPlan

pytestmark = pytest.mark.integration


def test_operations_run_in_the_child_and_stream_events_back():
    events: list[tuple[str, object]] = []
    got_token = threading.Event()

    def on_event(_job, name, payload):
        events.append((name, payload))
        if name == "token":
            got_token.set()

    host = ModelHost(on_event)
    try:
        info = host.submit("load_model", spec="default", device="cpu", dtype="auto", saes=[]).result(300)
        assert info.n_layers == 30 and ("model", info) in events
        settings = SamplingSettings(temperature=0, max_new_tokens=4, stop_at_eos=False)
        result = host.submit("generate", prompt="Hi", plan=SteeringPlan(), settings=settings, chat=True).result(120)
        assert len(result.panes[0].token_ids) == 4
        assert [n for n, _ in events].count("token") == 4
        with pytest.raises(WorkbenchError, match="no SAE loaded"):
            host.submit("inspect", sae_key="L8", feature=1).result(60)
        long = SamplingSettings(temperature=0, max_new_tokens=500, stop_at_eos=False)
        got_token.clear()
        job = host.submit("generate", prompt="Count to a thousand.", plan=SteeringPlan(), settings=long, chat=True)
        got_token.wait(60)
        job.cancel()
        assert len(job.result(60).panes[0].token_ids) < 500  # a cancelled generation returns what it has
    finally:
        host.shutdown()
    assert not host.alive


def test_a_dead_model_process_fails_pending_jobs_with_a_clear_message():
    crashed = threading.Event()
    host = ModelHost(lambda _j, name, _p: crashed.set() if name == "crashed" else None)
    job = host.submit("load_model", spec="default", device="cpu", dtype="auto", saes=[])
    host._process.kill()
    with pytest.raises(WorkbenchError, match="ended unexpectedly"):
        job.result(60)
    assert crashed.wait(10)
    host.shutdown()


def test_cancel_before_start_raises_cancelled():
    host = ModelHost(lambda *_: None)
    try:
        first = host.submit("load_model", spec="default", device="cpu", dtype="auto", saes=[])
        second = host.submit("remove_sae", key="x")
        second.cancel()
        first.result(300)
        with pytest.raises(Cancelled):
            second.result(30)
    finally:
        host.shutdown()
