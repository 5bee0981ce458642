"""The model process the app starts before its window: the first client takes it over; a dead one is replaced."""

from __future__ import annotations

import pytest

from ui import model_client
from ui.model_client import ModelClient, start_model_process
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

pytestmark = pytest.mark.integration


@pytest.fixture
def client(qapp):
    made = ModelClient()
    yield made
    made.shutdown()
    early, model_client._early = model_client._early, None
    if early is not None:
        early.shutdown()


def test_the_first_request_runs_in_the_process_started_early(client):
    early = start_model_process()
    assert start_model_process() is early  # started once
    early.warm_up("torch")
    job = client.send(rq.Inspect(sae_key="L8", feature=1))
    assert client.host is early and model_client._early is None
    end = job.wait(300)
    assert isinstance(end, ev.JobFailed) and early.alive  # no model yet: one line back, from that process


def test_an_early_process_that_died_is_replaced(client):
    early = start_model_process()
    early.kill()
    early._process.join(30)
    job = client.send(rq.Inspect(sae_key="L8", feature=1))
    assert client.host is not early and client.host.alive
    assert isinstance(job.wait(300), ev.JobFailed)
