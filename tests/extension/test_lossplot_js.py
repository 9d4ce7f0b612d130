"""The browser side's data flow (lossplot.js store), run in node without a DOM."""

import json
import pathlib
import shutil
import subprocess

import pytest

JS = pathlib.Path(__file__).resolve().parents[2] / "nnwidgets" / "widgets" / "lossplot.js"

SCRIPT = r"""
const mod = await import(process.argv[2]);
function fakeModel(state) {
  const handlers = {};
  const sent = [];
  return {
    sent,
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; },
    on: (ev, fn) => { (handlers[ev] = handlers[ev] || []).push(fn); },
    off: () => {},
    send: (m) => sent.push(m),
    fire: (ev, arg) => (handlers[ev] || []).forEach((fn) => fn(arg)),
    update: (k, v) => { state[k] = v; (handlers["change:" + k] || []).forEach((fn) => fn()); },
  };
}
const out = {};
// a fresh widget: batches arrive in order and are appended
let m = fakeModel({ points_update: {} });
mod.default.initialize({ model: m });
let s = mod._getStore(m);
m.update("points_update", { seq: 1, data: [[0, [1, 2], [5.0, 4.0], null]] });
m.update("points_update", { seq: 2, data: [[0, [3], [3.0], null], [1, [1], [9.0], [8.0]]] });
m.update("points_update", { seq: 2, data: [[0, [3], [3.0], null]] });  // repeated: ignored
out.fresh = { npoints: s.npoints, run0: s.runs[0].loss, run1val: s.runs[1].val, sent: m.sent };
// a page that loads while training runs: asks for a snapshot, then continues
m = fakeModel({ points_update: { seq: 5, data: [[0, [9], [1.0], null]] } });
mod.default.initialize({ model: m });
s = mod._getStore(m);
out.lateSent = m.sent.slice();
m.fire("msg:custom", { type: "snapshot", seq: 5, data: [[0, [1, 2, 3, 4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4, 3, 2, 1], null]] });
m.update("points_update", { seq: 6, data: [[0, [10], [0.5], null]] });
out.late = { npoints: s.npoints, last: s.runs[0].loss.slice(-2), seq: s.seq };
m.update("points_update", { seq: 9, data: [[0, [13], [0.1], null]] });  // a gap: sync again
out.gapSent = m.sent.length;
// what the widget manager hands over for points_update: float64 buffers as DataViews
// (the kernel sends binary buffers; NaN / inf are gaps), at any byte offset
const f64 = (vals, pad = 0) => {
  const buf = new ArrayBuffer(pad + 8 * vals.length);
  const dv = new DataView(buf, pad);
  vals.forEach((v, i) => dv.setFloat64(8 * i, v, true));
  return dv;
};
m = fakeModel({ points_update: {} });
mod.default.initialize({ model: m });
s = mod._getStore(m);
m.update("points_update", { seq: 1, data: [[0, f64([1, 2, 3], 3), f64([5.0, Infinity, NaN]), null],
                                          [1, f64([1]), f64([2.5]), f64([NaN])]] });
out.binary = { epochs: s.runs[0].epoch, loss: s.runs[0].loss, val0: s.runs[0].val, val1: s.runs[1].val,
               npoints: s.npoints };
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_store_appends_batches_and_resyncs_after_a_gap(tmp_path):
    script = tmp_path / "run.mjs"
    script.write_text(SCRIPT)
    module = tmp_path / "lossplot.mjs"
    module.write_text(JS.read_text())
    res = subprocess.run(["node", str(script), module.as_uri()], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["fresh"] == {"npoints": 4, "run0": [5.0, 4.0, 3.0], "run1val": [8.0], "sent": []}
    assert out["lateSent"] == [{"type": "sync"}]
    assert out["late"] == {"npoints": 10, "last": [1, 0.5], "seq": 6}
    assert out["gapSent"] == 2
    # binary float64 series (what the kernel sends): decoded at any byte
    # offset, non-finite values become gaps
    assert out["binary"] == {"epochs": [1, 2, 3], "loss": [5.0, None, None], "val0": [None] * 3,
                             "val1": [None], "npoints": 4}
