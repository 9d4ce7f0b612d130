"""PostgreSQL as the class store: several server processes share one class."""

from __future__ import annotations

import asyncio

import pytest

from nnwidgets.quiz.client import QuizClient
from nnwidgets.quiz.errors import QuizError
from nnwidgets.quiz.loadtest import run_class, setup_class
from nnwidgets.quiz.store import open_store

pytestmark = pytest.mark.postgres


def test_two_servers_share_one_postgres_class(pg_db, start_server):
    a = start_server(pg_db)
    b = start_server(pg_db)
    alice = QuizClient(a.url, student="alice", save=False)
    alice.register("shared", "Which?", ["x", "y", "z"], correct=0)
    alice.submit("shared", 1)
    # the token issued by server A is valid on server B (one secret per database)
    alice_on_b = QuizClient(b.url, student="alice", token=alice.token, save=False)
    alice_on_b.submit("shared", 2)
    bob_on_b = QuizClient(b.url, student="bob", save=False)
    bob_on_b.submit("shared", 2)
    with pytest.raises(QuizError) as err:
        QuizClient(a.url, student="bob", save=False).ensure_token()  # already issued by B
    assert err.value.status == 409
    # one vote per student across servers; counts agree (cache expires within 0.5 s)
    import time

    time.sleep(0.6)
    assert alice.state("shared")["counts"] == [0, 0, 2]
    assert bob_on_b.state("shared")["counts"] == [0, 0, 2]


@pytest.mark.slow
def test_concurrent_class_on_postgres_exact_counts(pg_db, start_server):
    servers = [start_server(pg_db), start_server(pg_db)]

    async def go():
        tokens, qids = await setup_class(servers[0].url, 100, 5, servers[0].instructor)
        names = sorted(tokens)
        halves = [{n: tokens[n] for n in names[::2]}, {n: tokens[n] for n in names[1::2]}]
        results = await asyncio.gather(*(
            run_class(s.url, half, qids, rounds=2, time_limit=120, seed=k)
            for k, (s, half) in enumerate(zip(servers, halves))))
        return results, qids

    results, qids = asyncio.run(go())
    acked = {}
    for r in results:
        assert r.errors == 0
        acked.update(r.last_acked)
    assert len(acked) == 100 * 5
    with open_store(pg_db) as store:
        rows = {(s, q): a for q, s, a, _ in store.answers()}
        counts = store.all_counts()
    assert rows == acked
    # the counts are exactly the acknowledged answers, 100 per question
    expected = {q: [0] * 4 for q in qids}
    for (_, q), a in acked.items():
        expected[q][a] += 1
    assert counts == expected and all(sum(c) == 100 for c in counts.values())
