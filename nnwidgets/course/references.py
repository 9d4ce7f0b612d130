"""``nnwidgets course record-references``: execute each key, store its reference metrics.

The values recorded for an assignment are the names its test cells use as
``{{ref:NAME}}`` (variables of the executed key), plus the ``record.NAME: <expression>``
lines of its ``[meta]`` cell. Values published in the lecture (``published.NAME: value``)
are stored next to them, and a recorded value with the same name must match the
published one (relative difference below 1e-6) when the data is the same.
The result goes to ``assignments/references.json``; rebuild the source notebooks after.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
import time

from nnwidgets.course import authoring
import numpy as np

from nnwidgets.course.build import REFERENCES, load_references, parse_file, published_values


def _ref_names(cells) -> list[str]:
    names = []
    for cell in cells:
        for kind, name in authoring.PLACEHOLDER.findall(cell.source):
            if kind == "ref" and name not in names:
                names.append(name)
    return names


def key_notebook(root: pathlib.Path, assignment: str):
    """The key (solutions kept, test cells dropped) followed by a cell printing the references."""
    path = root / "assignments" / f"{assignment}.py"
    meta, cells = parse_file(path)
    expressions = {name: name for name in _ref_names(cells)}
    for key, value in meta.items():
        if key.startswith("record."):
            expressions[key[len("record."):]] = value
    kept = [c for c in cells if c.kind != "tests"]
    nb = authoring.to_notebook(meta, kept, filename=str(path), strip_placeholders=True)
    for cell, source in zip(nb.cells, kept):  # where a failing cell is in the authoring file
        cell.metadata["authoring"] = {"where": f"{path}:{source.line}", "id": source.attrs.get("id")}
    import nbformat

    probe = (
        "import json as _json, numpy as _np\n"
        f"_exprs = {expressions!r}\n"
        "def _plain(v):\n"
        "    v = _np.asarray(v)\n"
        "    return v.item() if v.ndim == 0 else v.tolist()\n"
        "print('NNWIDGETS-REFERENCES ' + _json.dumps({k: _plain(eval(e)) for k, e in _exprs.items()}))"
    )
    nb.cells.append(nbformat.v4.new_code_cell(probe, metadata={"authoring": {"references": list(expressions)}}))
    return meta, nb


class RecordError(ValueError):
    """Executing a key failed; the message names the assignment, the cell and the error."""


def _failed_cell(nb):
    """The code cell that failed: the one with an error output, else the last one
    that started (a timeout, a dead kernel); None when none started."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = next((c for c in code if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    return failed or next((c for c in reversed(code) if c.get("execution_count") is not None), None)


def _failure(assignment: str, nb, exc: Exception, timeout: int) -> str:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    if isinstance(exc, CellExecutionError) and exc.ename == "KeyboardInterrupt":  # interrupted on timeout
        reason = f"it ran longer than --timeout {timeout} s"
    elif isinstance(exc, CellExecutionError):
        reason = f"{exc.ename}: {(str(exc.evalue).strip().splitlines() or [''])[0]}"
    elif isinstance(exc, CellTimeoutError):
        reason = f"it ran longer than --timeout {timeout} s"
    else:
        reason = f"the kernel died ({type(exc).__name__})"
    cell = _failed_cell(nb)
    where = (cell or {}).get("metadata", {}).get("authoring", {})
    if "references" in where:  # the probe cell, after the whole key ran
        return (f"the key of {assignment} does not define the reference values its tests use "
                f"({', '.join(where['references'])}): {reason}; define them in the key (or fix the {{{{ref:NAME}}}} "
                "names in its test cells) and run again; nothing was recorded")
    if not where:
        return f"the key of {assignment} failed: {reason}; fix the key and run again; nothing was recorded"
    cell_id = f" (id={where['id']})" if where.get("id") else ""
    return (f"the key of {assignment} failed in its cell at {where['where']}{cell_id}: {reason}; "
            "fix the key and run again; nothing was recorded")


def execute(nb, cwd: pathlib.Path, timeout: int = 600):
    from nbclient import NotebookClient

    from nnwidgets.course.kernels import kernel_config

    with tempfile.TemporaryDirectory(prefix="nnwidgets-references-") as sockets:
        # (interrupted on timeout: a kernel shut down mid-cell prints ZMQ tracebacks)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", interrupt_on_timeout=True,
                                resources={"metadata": {"path": str(cwd)}},
                                config=kernel_config(pathlib.Path(sockets)))
        client.execute()
    return nb


def cell_seconds(cell) -> float:
    """Execution time nbclient recorded for a cell (0 when unknown)."""
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def slowest_cells(nb, n: int = 3):
    def label(cell):
        lines = [ln.strip() for ln in cell.source.splitlines()
                 if ln.strip() and not ln.strip().startswith("#")]
        return lines[0][:70] if lines else ""

    timed = [(cell_seconds(c), label(c)) for c in nb.cells if c.cell_type == "code"]
    return sorted(timed, reverse=True)[:n]


def record(root: pathlib.Path, assignments: list[str], timeout: int = 600) -> dict:
    """Execute the keys of ``assignments`` and update ``assignments/references.json``."""
    references = load_references(root)
    for assignment in assignments:
        meta, nb = key_notebook(root, assignment)
        print(f"[record-references] executing the key of {assignment} ...", flush=True)
        start = time.perf_counter()
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        with tempfile.TemporaryDirectory() as tmp:
            try:
                execute(nb, pathlib.Path(tmp), timeout)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                raise RecordError(_failure(assignment, nb, exc, timeout)) from None
        seconds = time.perf_counter() - start
        for seconds_cell, source in slowest_cells(nb, 3):
            print(f"[record-references]   {seconds_cell:6.1f} s  {source}", flush=True)
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
        line = next(ln for ln in text.splitlines() if ln.startswith("NNWIDGETS-REFERENCES "))
        recorded = json.loads(line.split(" ", 1)[1])
        published = published_values(meta)
        for name, value in published.items():
            if name in recorded and not np.allclose(recorded[name], value, rtol=1e-6, atol=1e-9):
                print(f"[record-references] WARNING {assignment}.{name}: recorded {recorded[name]!r} "
                      f"differs from the lecture's published {value!r}", flush=True)
        references[assignment] = {
            "published": published,
            "recorded": recorded,
            "key_seconds": round(seconds, 1),
        }
        print(f"[record-references] {assignment}: {len(recorded)} values in {seconds:.1f} s", flush=True)
    path = root / "assignments" / REFERENCES
    path.write_text(json.dumps(references, indent=1, sort_keys=True) + "\n")
    return references
