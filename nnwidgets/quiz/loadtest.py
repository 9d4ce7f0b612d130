"""A simulated class for load tests and the benchmark: N students, each one
HTTP/1.1 keep-alive connection, answering M questions as fast as acknowledged.

Traffic goes to loopback only (127.0.0.1, ::1, localhost): ``LoopbackOnly``
is raised for any other host. Every run is bounded by a number of answers
and a time limit.

The client is a minimal asyncio HTTP/1.1 implementation (a few microseconds per
request) so that on a small machine the measurement is of the server, not of
the client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class LoopbackOnly(ValueError):
    pass


def _split(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host not in LOOPBACK:
        raise LoopbackOnly(
            f"load tests only send traffic to loopback ({', '.join(LOOPBACK)}); got host {host!r}"
        )
    base = parts.path if parts.path.endswith("/") else parts.path + "/"
    return host, parts.port or 80, base


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        data = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(data)}"]
        if data:
            lines.append("Content-Type: application/json")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def setup_class(url: str, n_students: int, n_questions: int, instructor_token: str,
                      n_answers: int = 4, concurrency: int = 50) -> tuple[dict, list]:
    """Register ``n_questions`` questions and ``n_students`` students; returns
    ``({student: token}, [question ids])``."""
    host, port, base = _split(url)
    qids = [f"q{i}" for i in range(n_questions)]
    tokens: dict[str, str] = {}
    sem = asyncio.Semaphore(concurrency)
    conns: list[Connection] = []

    async def one(fn):
        async with sem:
            conn = conns.pop() if conns else Connection(host, port)
            try:
                await fn(conn)
            finally:
                conns.append(conn)

    async def question(qid, conn):
        st, body = await conn.request(
            "PUT", base + "api/quiz/" + qid,
            {"question": f"Simulated question {qid}?", "answers": [f"answer {k}" for k in range(n_answers)],
             "correct": 0},
            {"X-Quiz-Token": instructor_token})
        if st not in (200, 201):
            raise RuntimeError(f"registering {qid}: {st} {body[:200]!r}")

    async def student(name, conn):
        st, body = await conn.request("POST", base + "api/quiz/students", {"student": name},
                                      {"X-Quiz-Token": instructor_token})
        if st not in (200, 201):
            raise RuntimeError(f"registering {name}: {st} {body[:200]!r}")
        tokens[name] = json.loads(body)["token"]

    await asyncio.gather(*(one(lambda c, q=q: question(q, c)) for q in qids))
    await asyncio.gather(*(one(lambda c, s=f"student{i:04d}": student(s, c)) for i in range(n_students)))
    for c in conns:
        c.close()
    return tokens, qids


@dataclasses.dataclass
class LoadResult:
    sent: int = 0
    acked: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list = dataclasses.field(default_factory=list)
    #: (student, question) -> answer of the last acknowledged submission
    last_acked: dict = dataclasses.field(default_factory=dict)
    #: (student, question) -> answer sent without an acknowledgement (connection lost)
    unacked: dict = dataclasses.field(default_factory=dict)
    statuses: dict = dataclasses.field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run_class(url: str, tokens: dict, qids: list, *, rounds: int = 1, n_answers: int = 4,
                    time_limit: float = 60.0, seed: int = 0, stop_after_acks: int | None = None,
                    on_stop=None) -> LoadResult:
    """Every student answers every question ``rounds`` times (later rounds change
    answers), one request at a time on its own connection; all students at once.

    Stops early after ``time_limit`` seconds, or after ``stop_after_acks``
    acknowledgements, when ``on_stop()`` is called (e.g. to kill the server)
    and the students keep going until their connections fail.
    """
    host, port, base = _split(url)
    result = LoadResult()
    rng = random.Random(seed)
    plans = {s: [(q, rng.randrange(n_answers)) for _ in range(rounds) for q in qids] for s in tokens}
    deadline = time.monotonic() + time_limit
    stopped = asyncio.Event()

    async def student(name: str):
        conn = Connection(host, port)
        token = tokens[name]
        try:
            for qid, answer in plans[name]:
                if time.monotonic() > deadline:
                    return
                key = (name, qid)
                result.sent += 1
                result.unacked[key] = answer
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.request(
                        "POST", base + "api/quiz/" + qid + "/answer",
                        {"student": name, "answer": answer}, {"X-Quiz-Token": token})
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.errors += 1
                    return  # the connection is gone: this answer stays unacknowledged
                dt = time.perf_counter() - t0
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200:
                    del result.unacked[key]
                    result.last_acked[key] = answer
                    result.acked += 1
                    result.latencies.append(dt)
                    if stop_after_acks is not None and result.acked == stop_after_acks:
                        stopped.set()
                        if on_stop is not None:
                            on_stop()
                else:
                    del result.unacked[key]
                    result.errors += 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(student(s) for s in tokens))
    result.elapsed = time.perf_counter() - t0
    return result


async def run_open_loop(url: str, tokens: dict, qids: list, *, rate: float, duration: float,
                        n_answers: int = 4, seed: int = 0, time_limit: float = 60.0) -> LoadResult:
    """Open loop: the class as a whole offers ``rate`` answers/s for ``duration``
    seconds, spread evenly over the students (each on its own connection).

    Latency is measured from each answer's *scheduled* send time, so a server
    that falls behind is charged for the queueing (no coordinated omission).
    """
    host, port, base = _split(url)
    result = LoadResult()
    names = sorted(tokens)
    n = len(names)
    per_student = rate / n
    total = int(rate * duration)
    rng = random.Random(seed)
    t_start = time.perf_counter() + 0.2
    deadline = time.monotonic() + time_limit

    async def student(k: int, name: str):
        conn = Connection(host, port)
        await conn.open()
        token = tokens[name]
        j = 0
        offset = k / rate  # students staggered evenly
        try:
            while True:
                index = k + j * n
                if index >= total or time.monotonic() > deadline:
                    return
                scheduled = t_start + offset + j / per_student
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                qid = qids[j % len(qids)]
                answer = rng.randrange(n_answers)
                result.sent += 1
                try:
                    status, _ = await conn.request(
                        "POST", base + "api/quiz/" + qid + "/answer",
                        {"student": name, "answer": answer}, {"X-Quiz-Token": token})
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.errors += 1
                    return
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200:
                    result.acked += 1
                    result.last_acked[(name, qid)] = answer
                    result.latencies.append(time.perf_counter() - scheduled)
                else:
                    result.errors += 1
                j += 1
        finally:
            conn.close()

    await asyncio.gather(*(student(k, name) for k, name in enumerate(names)))
    result.elapsed = time.perf_counter() - t_start
    return result
