"""The bench's account of where the machine's CPU goes during a round."""

from __future__ import annotations

import os

from bench import machine


def test_what_no_kind_explains_is_the_rest_of_the_machine() -> None:
    before = machine.Usage({"Postgres": 10.0, "workers": 4.0}, busy=100.0)
    after = machine.Usage({"Postgres": 12.5, "workers": 4.5, "Kafka broker": 1.0}, busy=105.0)
    assert after.since(before) == {"Postgres": 2.5, "workers": 0.5, "Kafka broker": 1.0,
                                   machine.REST: 1.0}


def test_a_process_gone_meanwhile_counts_nothing_not_less_than_nothing() -> None:
    before = machine.Usage({"Postgres": 10.0}, busy=100.0)
    assert machine.Usage({"Postgres": 3.0}, busy=100.5).since(before) == {
        "Postgres": 0.0, machine.REST: 0.5}


def test_processes_named_by_pid_come_before_their_command() -> None:
    kind = machine.classifier({7: "the API serving the round"})
    assert kind(7, "postgres") == "the API serving the round"
    assert (kind(8, "postgres"), kind(9, "java"), kind(10, "bash")) == (
        "Postgres", "Kafka broker", None)


def test_this_process_is_found_and_spends_something() -> None:
    usage = machine.usage(machine.classifier({os.getpid(): "load generator"}))
    assert usage.by_kind["load generator"] > 0
    assert usage.busy > 0
