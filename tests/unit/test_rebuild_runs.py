"""A rebuild sends its writes in runs of one statement: each patient's writes keep their
order, a site's write is a barrier, and patients with alike histories share runs."""

from __future__ import annotations

import random

import pytest

from iopnet.held_writes import runs

pytestmark = pytest.mark.unit

Write = tuple[str, tuple[object, ...], str | None]


def sent(writes: list[Write]) -> list[tuple[str, tuple[object, ...]]]:
    """The writes in the order the runs send them."""
    return [(query, row) for query, rows in runs(writes) for row in rows]


def of(writes: list[Write], key: str | None) -> list[tuple[str, tuple[object, ...]]]:
    return [(query, args) for query, args, k in writes if k == key]


def test_patients_with_alike_histories_share_one_run_per_statement() -> None:
    writes: list[Write] = [(q, (p, q), p) for p in ("ada", "bo", "cy") for q in ("open", "link")]
    assert runs(writes) == [("open", [("ada", "open"), ("bo", "open"), ("cy", "open")]),
                            ("link", [("ada", "link"), ("bo", "link"), ("cy", "link")])]


def test_each_patients_writes_keep_their_order() -> None:
    writes: list[Write] = [("x", (1,), "ada"), ("y", (2,), "ada"), ("y", (3,), "bo"),
                           ("x", (4,), "bo")]
    order = sent(writes)
    assert order.index(("x", (1,))) < order.index(("y", (2,)))
    assert order.index(("y", (3,))) < order.index(("x", (4,)))


def test_a_write_of_no_patient_is_a_barrier() -> None:
    writes: list[Write] = [("x", (1,), "ada"), ("site", (2,), None), ("x", (3,), "bo"),
                           ("x", (4,), "ada")]
    assert runs(writes) == [("x", [(1,)]), ("site", [(2,)]), ("x", [(3,), (4,)])]


def test_any_mix_is_sent_whole_in_every_patients_order() -> None:
    shuffle = random.Random(9)
    for _ in range(200):
        writes: list[Write] = [
            (shuffle.choice("abcd"), (n,), shuffle.choice(["ada", "bo", "cy", "di", None]))
            for n in range(shuffle.randrange(1, 40))]
        order = sent(writes)
        assert sorted(order, key=lambda w: w[1]) == [(q, a) for q, a, _ in writes]
        for key in ("ada", "bo", "cy", "di"):
            assert [w for w in order if w in of(writes, key)] == of(writes, key)
        barriers = [n for n, (_, _, key) in enumerate(writes) if key is None]
        for n in barriers:  # everything before a barrier is sent before it, the rest after
            at = order.index((writes[n][0], writes[n][1]))
            assert {a[0] for _, a in order[:at]} == set(range(n))
