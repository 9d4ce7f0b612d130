"""The extension in a real Jupyter kernel: a notebook executed by nbclient
(saved outputs, static image, text fallback, errors, recorded runs) and the
Stop button's comm message / the kernel interrupt while a cell trains."""

import queue
import time

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("torch")

pytestmark = pytest.mark.slow

SETUP = """\
import numpy as np
import torch
from torch import nn
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 6)).astype(np.float32)
y = X @ np.arange(1.0, 7.0) * 10 + 150
yc = (X[:, 0] > 0).astype(int)
"""


def _outputs(cell, kind=None):
    return [o for o in cell.get("outputs", []) if kind is None or o["output_type"] == kind]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from nbclient import NotebookClient

    tmp = tmp_path_factory.mktemp("nb")
    nb = nbformat.v4.new_notebook()
    sources = [
        "%load_ext nnwidgets",
        SETUP,
        # 2: an nn.Module; the body prints: that output must stay next to the final image
        "%%nntrain --data X,y --test X,y --epochs 40 --optimizer adam --lr 0.05 --seed 1 --out res\n"
        "print('building the model')\n"
        "nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))",
        # 3: the text fallback
        "%%nntrain --data X,yc --epochs 5 --progress text --label text-run\nnn.Linear(6, 2)",
        # 4: a lecture-style scikit-learn cell with the nnwidgets drop-in
        "%%nntrain --data X,yc --test X,yc\n"
        "from nnwidgets import MLPClassifier\n"
        "net = MLPClassifier(hidden_layer_sizes=[8], random_state=1, max_iter=300)",
        "%nnruns",
        "%%nntrain --data X,nope\nnn.Linear(6, 1)",
        "from nnwidgets.trainer.registry import RUNS\nprint(len(RUNS), res.stop_reason, res.epochs)",
        # 8: a sweep: one live plot for all models, one static image at the end
        "%%nntrain --data X,y --grid 'lr=0.01,0.001' --epochs 5 -q\n"
        "from nnwidgets import MLPRegressor\nMLPRegressor(hidden_layer_sizes=[8], random_state=0)",
        # 9: a plot passed as a callback to two fits in one cell: one live view
        # while the cell runs, one static image of both runs when it ends
        "from nnwidgets import LiveLossPlot, MLPRegressor\n"
        "plot = LiveLossPlot(title='two fits', update_interval=0)\n"
        "for lr in (0.01, 0.001):\n"
        "    MLPRegressor(hidden_layer_sizes=[8], learning_rate_init=lr, max_iter=5, random_state=0,\n"
        "                 callbacks=[plot]).fit(X, y)\n"
        "    print('live after fit:', plot._handle is not None, plot.status)",
        # 10: a training too short to be shown live (no update due before it ends): it
        # sends nothing while it runs, and the cell ends with its image alone
        "quick = LiveLossPlot(title='quick')\n"
        "MLPRegressor(hidden_layer_sizes=[8], max_iter=5, random_state=0, callbacks=[quick]).fit(X, y)\n"
        "print('shown live:', quick._handle is not None, quick.status)",
        # 11: a training that raises half-way: its live view still ends as its image
        "class Boom(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin, self.calls = nn.Linear(6, 1), 0\n"
        "    def forward(self, x):\n"
        "        self.calls += 1\n"
        "        if self.calls > 20:\n"
        "            raise RuntimeError('boom')\n"
        "        return self.lin(x)\n"
        "from nnwidgets.trainer.module_training import train_module\n"
        "broken = LiveLossPlot(title='broken', update_interval=0)\n"
        "train_module(Boom(), X, y, epochs=100, loss='mse', callbacks=[broken])",
    ]
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    client = NotebookClient(nb, timeout=240, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp)}})
    client.execute()
    path = tmp / "executed.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    return saved


def test_load_ext_and_training_cell_keep_a_static_image(executed):
    cells = executed.cells
    assert _outputs(cells[0], "error") == []
    outs = _outputs(cells[2])
    kinds = [o["output_type"] for o in outs]
    assert "error" not in kinds, outs
    # the body's own output is still there, before the plot
    assert outs[0]["output_type"] == "stream" and "building the model" in outs[0]["text"]
    images = [o for o in outs if o["output_type"] == "display_data" and "image/png" in o["data"]]
    assert len(images) == 1, "the live plot must end as exactly one static PNG"
    assert "Loss curves (done)" in images[0]["data"]["text/plain"]
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
    result = [o for o in outs if o["output_type"] == "execute_result"][0]["data"]
    assert "TrainResult(Sequential, run 1, 40 epochs on cpu" in result["text/plain"]
    assert "samples/s" in result["text/html"] and "time per epoch" in result["text/html"]


def test_text_fallback_prints_progress(executed):
    outs = _outputs(executed.cells[3])
    text = "".join(o.get("text", "") for o in outs if o["output_type"] == "stream")
    assert "Training text-run on cpu for 5 epochs" in text and "done: epoch 5/5" in text
    assert not any("image/png" in o.get("data", {}) for o in outs)


def test_sklearn_style_cell_and_run_comparison(executed):
    outs = _outputs(executed.cells[4])
    assert "error" not in [o["output_type"] for o in outs]
    assert any("image/png" in o.get("data", {}) for o in outs)
    result = [o for o in outs if o["output_type"] == "execute_result"][0]["data"]["text/plain"]
    assert "MLPClassifier [8]" in result and "test_accuracy" in result
    runs = _outputs(executed.cells[5], "display_data")
    assert "<table" in runs[0]["data"]["text/html"] and "text-run" in runs[0]["data"]["text/html"]
    assert "image/png" in runs[1]["data"]


def test_errors_and_recorded_runs(executed):
    # IPython shows a UsageError as one stderr line, without a traceback
    err = [o for o in _outputs(executed.cells[6], "stream") if o["name"] == "stderr"]
    assert [o["text"] for o in err] == ["UsageError: --data: no variable named 'nope' in the notebook; define it first\n"]
    stream = _outputs(executed.cells[7], "stream")[0]["text"]
    assert stream.split() == ["3", "max_iter", "40"]


def test_a_sweep_ends_as_one_image_of_all_its_curves(executed):
    outs = _outputs(executed.cells[8])
    assert "error" not in [o["output_type"] for o in outs], outs
    images = [o for o in outs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    summary = images[0]["data"]["text/plain"]
    assert "learning_rate_init=0.01" in summary and "learning_rate_init=0.001" in summary


def test_nbconvert_html_shows_the_image(executed):
    nbconvert = pytest.importorskip("nbconvert")
    body, _ = nbconvert.HTMLExporter().from_notebook_node(executed)
    # every saved image: the training cells', the sweep's, the LiveLossPlot cells' and %nnruns' chart
    saved = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(saved) == 7
    # each as an <img> of its own data (the page's CSS has a data:image/png of its own)
    assert body.count('src="data:image/png;base64,') == len(saved)
    assert all(f'src="data:image/png;base64,{o["data"]["image/png"].strip()}"' in body for o in saved)


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120)
    try:
        _run(kc, "%load_ext nnwidgets\n" + SETUP)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _drain(kc):
    while True:
        try:
            kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            return


def _run(kc, code, timeout=120):
    msg_id = kc.execute(code)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            assert reply["content"]["status"] == "ok", reply["content"]
            return reply


def _stdout(kc, code):
    msg_id = kc.execute(code)
    text = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return text
    raise AssertionError("no idle status")


LONG_CELL = ("%%nntrain --data X,y --epochs 1000000 --optimizer adam --lr 0.01 --out {out} -q\n"
             "nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))")


def _wait_for_plot(kc, msg_id, min_updates=3, timeout=60):
    """Returns the comm id of the live plot once it has sent a few updates."""
    comm_id, updates = None, 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["msg_type"] == "comm_open" and "stop_requested" in msg["content"]["data"].get("state", {}):
            comm_id = msg["content"]["comm_id"]
        elif msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
            updates += 1
            if updates >= min_updates:
                return comm_id
        elif msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == msg_id \
                and msg["content"]["execution_state"] == "idle":
            raise AssertionError("training ended before it could be stopped")
    raise AssertionError(f"no live plot updates (comm {comm_id}, {updates} updates)")


def _wait_reply(kc, msg_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply
    raise AssertionError("no execute_reply")


def test_stop_button_message_stops_a_running_cell(kernel):
    km, kc = kernel
    _drain(kc)
    msg_id = kc.execute(LONG_CELL.format(out="stopped_res"))
    comm_id = _wait_for_plot(kc, msg_id)
    # what the browser sends when the Stop button is clicked
    click = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": {"type": "stop"}}})
    kc.shell_channel.send(click)
    reply = _wait_reply(kc, msg_id, timeout=60)
    assert reply["content"]["status"] == "ok"
    out = _stdout(kc, "print(stopped_res.stop_reason, stopped_res.epochs < 1000000, "
                      "stopped_res.model(torch.zeros(2, 6)).shape[0])")
    # handled while the cell ran (stop_reason 'stopped', not 'max_iter' after a million
    # epochs), and the trained model is kept
    assert out.split() == ["stopped", "True", "2"]
    # the click was handled on the nnwidgets subshell created for this kernel (one, reused)
    out = _stdout(kc, "from nnwidgets.widgets import kernel_comm\n"
                      "ids = list(kernel_comm._SUBSHELLS.values())\n"
                      "print(len(ids), ids[0] in get_ipython().kernel.shell_channel_thread.manager.list_subshell())")
    assert out.split() == ["1", "True"]


def test_kernel_interrupt_ends_training_gracefully(kernel):
    km, kc = kernel
    _drain(kc)
    msg_id = kc.execute(LONG_CELL.format(out="interrupted_res"))
    _wait_for_plot(kc, msg_id)
    km.interrupt_kernel()
    reply = _wait_reply(kc, msg_id, timeout=60)
    assert reply["content"]["status"] == "ok"  # no KeyboardInterrupt traceback: the model is kept
    out = _stdout(kc, "print(interrupted_res.stop_reason, interrupted_res.epochs > 0)")
    assert out.split() == ["interrupted", "True"]


def test_a_plot_fed_by_two_fits_ends_as_one_image_when_the_cell_ends(executed):
    outs = _outputs(executed.cells[9])
    assert "error" not in [o["output_type"] for o in outs], outs
    text = "".join(o.get("text", "") for o in outs if o["output_type"] == "stream")
    # fit() returns with the live view still showing; the image comes at the end of the cell
    assert text.count("live after fit: True done") == 2, text
    images = [o for o in outs if "image/png" in o.get("data", {})]
    assert len(images) == 1 and outs[0] is images[0]  # in place of the live view, before the prints
    summary = images[0]["data"]["text/plain"]
    assert "Loss curves (done)" in summary and summary.count("5 epochs") == 2, summary
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)


def test_a_training_too_short_to_show_live_ends_as_its_image(executed):
    outs = _outputs(executed.cells[10])
    assert "error" not in [o["output_type"] for o in outs], outs
    outs = [o for o in outs if o.get("name") != "stderr"]  # (a ConvergenceWarning: 5 epochs)
    assert [o["output_type"] for o in outs] == ["stream", "display_data"], outs
    assert outs[0]["text"] == "shown live: False done\n"  # fit returned without showing a view
    assert "image/png" in outs[1]["data"] and "): 5 epochs, final loss" in outs[1]["data"]["text/plain"]


def test_a_training_that_raises_ends_as_its_image(executed):
    outs = _outputs(executed.cells[11])
    errors = [o for o in outs if o["output_type"] == "error"]
    assert len(errors) == 1 and errors[0]["evalue"] == "boom", outs
    images = [o for o in outs if "image/png" in o.get("data", {})]
    assert len(images) == 1 and "Loss curves (failed)" in images[0]["data"]["text/plain"], outs
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)


SLOW_FIRST_EPOCH = """\
import time
from nnwidgets import LiveLossPlot
from nnwidgets.trainer.module_training import train_module
class SlowStart(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.slept = nn.Linear(6, 1), False
    def forward(self, x):
        if torch.is_grad_enabled() and not self.slept:  # (not the shape probe before training)
            self.slept = True
            time.sleep(2.0)  # a first epoch far longer than show_delay (0.15 s)
        return self.lin(x)
slow_plot = LiveLossPlot(title='slow start')
train_module(SlowStart(), X, y, epochs=3, loss='mse', callbacks=[slow_plot])
"""


def test_a_slow_first_epoch_is_shown_in_its_cell_before_it_ends(kernel):
    km, kc = kernel
    _drain(kc)
    msg_id = kc.execute(SLOW_FIRST_EPOCH)
    mine, view_comm = [], None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["msg_type"] == "comm_open" and msg["content"]["data"].get("state", {}).get("title") == "slow start":
            view_comm = msg["content"]["comm_id"]
        if msg["parent_header"].get("msg_id") == msg_id:
            mine.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    kinds = []
    for msg in mine:
        content = msg["content"]
        if msg["msg_type"] == "display_data" and "application/vnd.jupyter.widget-view+json" in content["data"]:
            kinds.append("view")
        elif msg["msg_type"] == "comm_msg" and content["comm_id"] == view_comm:
            state = content["data"].get("state", {})
            kinds.append("points" if state.get("n_points") else "state")
        elif msg["msg_type"] == "display_data" and "image/png" in content["data"]:
            kinds.append("image")
    # shown by the alarm thread during the 2-second first epoch, in this cell
    # (the display's parent is this execute request), before any point exists
    assert "view" in kinds and "points" in kinds, kinds
    assert kinds.index("view") < kinds.index("points"), kinds
    assert kinds[kinds.index("view") - 1] == "state", kinds  # "training", sent with the view


def test_an_error_in_the_cell_names_its_cell_and_line(tmp_path):
    """In a kernel, the traceback of an error in a %%nntrain body names the cell
    it is in (Cell In[2], not the next one) and quotes the failing line."""
    import re

    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "%load_ext nnwidgets\n" + SETUP,
        "%%nntrain --data X,y --epochs 3\nhidden = 10\nnn.Sequential(nn.Linear(6, hiden), nn.ReLU())",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    (error,) = _outputs(nb.cells[1], "error")
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    assert error["ename"] == "NameError"
    assert "Cell In[2], line 3" in text and "nn.Linear(6, hiden)" in text.split("Cell In[2], line 3")[1], text
