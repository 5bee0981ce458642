"""The model process: typed requests in, typed events back, each result once, cancel, crash detection, shutdown."""

import threading

import pytest

from workbench.host import ModelHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import SteeringPlan

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self):
        self.events: list[ev.Event] = []
        self.got_token = threading.Event()
        self.crashed = threading.Event()

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        if isinstance(event, ev.TokensGenerated):
            self.got_token.set()
        if isinstance(event, ev.HostCrashed):
            self.crashed.set()

    def of(self, kind, job=None):
        return [e for e in self.events if isinstance(e, kind) and (job is None or e.job == job)]


def test_requests_run_in_the_child_and_stream_typed_events_back():
    seen = Recorder()
    host = ModelHost(seen)
    try:
        load = host.submit(rq.LoadModel("default", device="cpu"))
        assert isinstance(load.wait(300), ev.JobFinished)
        (loaded,) = seen.of(ev.ModelLoaded, load.id)
        assert loaded.info.n_layers == 30
        assert load.wait().request == rq.LoadModel("default", device="cpu")  # the end names its request

        settings = SamplingSettings(temperature=0, max_new_tokens=4, stop_at_eos=False)
        gen = host.submit(rq.Generate("Hi", SteeringPlan(), settings))
        assert isinstance(gen.wait(120), ev.JobFinished)
        (generated,) = seen.of(ev.Generated, gen.id)  # the result arrives exactly once
        assert len(generated.result.panes[0].token_ids) == 4
        assert len(seen.of(ev.TokensGenerated, gen.id)) == 4

        missing = host.submit(rq.Inspect(sae_key="L8", feature=1)).wait(60)
        assert isinstance(missing, ev.JobFailed) and "no SAE loaded" in missing.message
        assert isinstance(missing.request, rq.Inspect)

        long = SamplingSettings(temperature=0, max_new_tokens=500, stop_at_eos=False)
        seen.got_token.clear()
        job = host.submit(rq.Generate("Count to a thousand.", SteeringPlan(), long))
        assert seen.got_token.wait(60)
        job.cancel()
        assert isinstance(job.wait(60), ev.JobFinished)  # a stopped generation ends with what it has
        (stopped,) = seen.of(ev.Generated, job.id)
        assert stopped.result.cancelled and len(stopped.result.panes[0].token_ids) < 500
    finally:
        host.shutdown()
    assert not host.alive


def test_a_dead_model_process_fails_pending_jobs_with_a_clear_message():
    seen = Recorder()
    host = ModelHost(seen)
    job = host.submit(rq.LoadModel("default", device="cpu"))
    host.kill()
    end = job.wait(60)
    assert isinstance(end, ev.JobFailed) and "ended unexpectedly" in end.message
    assert isinstance(end.request, rq.LoadModel)
    assert seen.crashed.wait(10)
    host.shutdown()


def test_cancel_before_start_ends_the_job_cancelled():
    host = ModelHost(lambda _e: None)
    try:
        first = host.submit(rq.LoadModel("default", device="cpu"))
        second = host.submit(rq.RemoveSae(key="x"))
        second.cancel()
        assert isinstance(first.wait(300), ev.JobFinished)
        assert isinstance(second.wait(30), ev.JobCancelled)
    finally:
        host.shutdown()


def test_the_newest_request_on_a_channel_cancels_the_previous_one():
    host = ModelHost(lambda _e: None)
    try:
        host.submit(rq.LoadModel("default", device="cpu"))
        first = host.submit(rq.SearchFeatures("ocean"))
        second = host.submit(rq.SearchFeatures("water"))
        assert isinstance(first.wait(300), ev.JobCancelled)
        assert isinstance(second.wait(60), ev.JobFinished)
    finally:
        host.shutdown()


def test_a_process_warmed_up_first_still_serves_and_takes_cancels():
    seen = Recorder()
    host = ModelHost(seen)
    try:
        host.warm_up("torch")  # imports torch and transformers before the first job
        job = host.submit(rq.Inspect(sae_key="L8", feature=1))
        settings = SamplingSettings(temperature=0, max_new_tokens=4)
        cancelled = host.submit(rq.Generate("Hi", SteeringPlan(), settings))
        cancelled.cancel()  # arrives while the process is still importing
        end = job.wait(300)
        assert isinstance(end, ev.JobFailed) and "no model" in end.message
        assert isinstance(cancelled.wait(60), ev.JobCancelled)
    finally:
        host.shutdown()
    assert not host.alive


@pytest.mark.parametrize(("backend", "imported"), [("torch", True), ("llama.cpp", False), ("no-such", False)])
def test_warming_up_imports_what_a_load_on_that_backend_needs(backend, imported):
    import subprocess
    import sys

    script = (
        "import sys; from workbench.host import _warm_up; _warm_up(sys.argv[1]); "
        "print('torch' in sys.modules, 'transformers.modeling_utils' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script, backend], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(imported)] * 2
