"""Quiz server throughput and latency at 300 concurrent clients (loopback only).

Layout: the server is one ``nnwidgets quiz serve`` subprocess (tornado, one
event loop, SQLite in WAL mode with synchronous=FULL in a temporary directory
on the local disk: every answer is fsync'ed before its 200). The client is
this process: 300 simulated students, each on its own HTTP/1.1 keep-alive
connection to 127.0.0.1, driven by one asyncio loop (``nnwidgets.quiz.loadtest``).
Client and server share the machine.

Measurements, repeated and interleaved:

- closed loop ("saturation"), for group commit (the server's default) and, as
  the peer, one commit per answer (``--max-batch 1``, what a naive server
  does): every student sends its next answer as soon as the previous one is
  acknowledged: the most answers/s the server sustains; with 300 clients,
  latency is then about 300 / throughput (Little's law);
- open loop at fixed offered rates (default 500, 1,000, 2,000 answers/s spread
  over the 300 students), group commit: achieved answers/s and p50/p99 latency
  measured from each answer's scheduled send time (no coordinated omission).

Bounded: at most --answers answers per closed-loop run and rate x --seconds
per open-loop run; every run has a time limit.

    python benchmarks/bench_quiz.py [--repeats 2] [--rates 500,1000,2000] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from nnwidgets.quiz.loadtest import run_class, run_open_loop, setup_class  # noqa: E402

INSTRUCTOR = "bench-instructor"


def start_server(db: str, max_batch: int):
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnwidgets.cli", "quiz", "serve", "--db", db, "--host", "127.0.0.1",
         "--port", "0", "--instructor-token", INSTRUCTOR, "--max-batch", str(max_batch)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, m.group(1)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(kind: str, max_batch: int, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-quiz-", dir=args.tmpdir) as tmp:
        proc, url = start_server(os.path.join(tmp, "quiz.sqlite"), max_batch)
        try:
            async def go():
                tokens, qids = await setup_class(url, args.students, args.questions, INSTRUCTOR)
                c0 = cpu_seconds(proc.pid)
                if kind == "closed":
                    rounds = max(1, args.answers // (args.students * args.questions))
                    r = await run_class(url, tokens, qids, rounds=rounds, time_limit=120)
                else:
                    r = await run_open_loop(url, tokens, qids, rate=args.rate, duration=args.seconds,
                                            time_limit=args.seconds * 4 + 30)
                return r, cpu_seconds(proc.pid) - c0

            r, server_cpu = asyncio.run(go())
        finally:
            proc.terminate()
            proc.wait(30)
    return {"rate": r.rate, "acked": r.acked, "errors": r.errors, "p50": r.percentile(50) * 1e3,
            "p99": r.percentile(99) * 1e3, "server_cpu_per_answer_us": 1e6 * server_cpu / max(1, r.acked)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=300)
    p.add_argument("--questions", type=int, default=10)
    p.add_argument("--answers", type=int, default=6000, help="answers per closed-loop run")
    p.add_argument("--rates", default="500,1000,2000",
                   help="offered answers/s of the open-loop runs (group commit)")
    p.add_argument("--seconds", type=float, default=4.0, help="open-loop duration per rate")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tmpdir", default=None, help="where the SQLite file goes (default: system tmp)")
    args = p.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r]

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{args.students} concurrent clients (one keep-alive connection each), "
          f"{args.questions} questions; client: this process (asyncio), server: 1 subprocess")
    rows = []
    closed: dict = {}
    for rep in range(args.repeats):
        # interleaved: the two commit strategies back to back in every repeat
        for name, mb in (("group commit", 5000), ("commit per answer", 1)):
            args.rate = None
            res = one_run("closed", mb, args)
            closed.setdefault(name, []).append(res["rate"])
            rows.append(("closed loop", name, res))
            print(f"  [{rep + 1}/{args.repeats}] closed loop, {name:18s} {res['rate']:7.0f} answers/s  "
                  f"p50 {res['p50']:7.1f} ms  p99 {res['p99']:7.1f} ms  errors {res['errors']}  "
                  f"server CPU {res['server_cpu_per_answer_us']:.0f} us/answer", flush=True)
        for rate in rates:
            args.rate = rate
            res = one_run("open", 5000, args)
            rows.append((f"open loop, {rate:.0f}/s offered", "group commit", res))
            print(f"  [{rep + 1}/{args.repeats}] open loop {rate:5.0f}/s, group commit {res['rate']:7.0f} answers/s  "
                  f"p50 {res['p50']:7.1f} ms  p99 {res['p99']:7.1f} ms  errors {res['errors']}  "
                  f"server CPU {res['server_cpu_per_answer_us']:.0f} us/answer", flush=True)

    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    print("| run | commit | answers/s | p50 ms | p99 ms | server CPU us/answer |")
    print("|---|---|---:|---:|---:|---:|")
    for mode, name, r in rows:
        print(f"| {mode} | {name} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
              f"{r['server_cpu_per_answer_us']:.0f} |")
    g, s = max(closed["group commit"]), max(closed["commit per answer"])
    print(f"\ngroup commit / commit per answer, saturation throughput (best of {args.repeats}): {g / s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
