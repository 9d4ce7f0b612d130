"""%%nntrain and %nnruns through a real IPython shell (no kernel)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
from IPython.core.error import UsageError  # noqa: E402
from IPython.testing import globalipapp  # noqa: E402

from nnwidgets.magics.training import TrainingMagics  # noqa: E402
from nnwidgets.trainer.registry import RUNS  # noqa: E402
from nnwidgets.trainer.results import TrainResult  # noqa: E402

DECODER = '''
class DecodingReLuNN(nn.Module):
    def __init__(self, n_inputs, n_hidden):
        super().__init__()
        self.in_layer = nn.Linear(n_inputs, n_hidden)
        self.dropout = nn.Dropout(0.25)
        self.out_layer = nn.Linear(n_hidden, 26)

    def forward(self, V_P):
        V_P = torch.relu(self.in_layer(V_P))
        V_P = self.dropout(V_P)
        return self.out_layer(V_P)

DecodingReLuNN(X_train.shape[1], 64)
'''


@pytest.fixture(scope="module")
def ip():
    shell = (globalipapp.start_ipython() or globalipapp.get_ipython())
    shell.register_magics(TrainingMagics)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    shell.user_ns.update(
        np=np, X=X, y=X @ np.arange(1.0, 7.0) * 10 + 150, Xc=X, yc=(X[:, 0] > 0).astype(float),
    )
    shell.run_cell("import torch\nfrom torch import nn\nfrom nnwidgets.datasets import simulate_fmri_categories\n"
                   "from sklearn.model_selection import train_test_split\n"
                   "Xf, yf, _ = simulate_fmri_categories(n_voxels=60)\n"
                   "X_train, X_test, y_train, y_test = train_test_split(Xf, yf, test_size=0.2, random_state=42)")
    return shell


@pytest.fixture(autouse=True)
def fresh_runs(monkeypatch):
    monkeypatch.setenv("NNWIDGETS_PROGRESS", "none")
    RUNS.clear()
    yield
    RUNS.clear()


def nntrain(ip, line, cell=""):
    if not cell:  # IPython refuses an empty cell body: the line form %nntrain is for that
        return ip.run_line_magic("nntrain", line)
    return ip.run_cell_magic("nntrain", line, cell)


def test_the_decoding_lecture_loop_is_one_cell(ip):
    res = nntrain(ip, "--data X_train,y_train --test X_test,y_test --epochs 60 --optimizer sgd --lr 0.1 "
                      "--weight-decay 1e-4 --loss cross_entropy --seed 1 --out res", DECODER)
    assert isinstance(res, TrainResult) and ip.user_ns["res"] is res
    assert "DecodingReLuNN" in ip.user_ns  # the body ran in the notebook's namespace
    assert res.label == "DecodingReLuNN" and res.epochs == 60 and res.stop_reason == "max_iter"
    assert res.params["lr"] == 0.1 and res.params["weight_decay"] == 1e-4 and res.params["loss"] == "cross_entropy"
    assert res.loss_curve[-1] < res.loss_curve[0]
    assert 0 <= res.metrics["test_accuracy"] <= 1
    assert res.timings["per_epoch_s"] > 0 and res.timings["samples_per_s"] > 0  # reported for its device
    assert "ms/epoch" in repr(res) and "samples/s" in repr(res) and "on cpu" in repr(res)
    assert len(RUNS) == 1 and RUNS[1] is res
    # --seed seeds before the body builds the network: the same cell gives the same curve
    again = nntrain(ip, "--data X_train,y_train --epochs 5 --lr 0.1 --seed 1", DECODER)
    first5 = nntrain(ip, "--data X_train,y_train --epochs 5 --lr 0.1 --seed 1", DECODER)
    assert again.loss_curve == first5.loss_curve


def test_the_sklearn_lecture_cells(ip):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short runs
        ours = nntrain(ip, "--data X,y --test X,y",
                       "from nnwidgets import MLPRegressor\n"
                       "MLPRegressor(hidden_layer_sizes=[16], random_state=1, max_iter=30)")
        theirs = nntrain(ip, "--data X,y --test X,y --label sklearn",
                         "from sklearn.neural_network import MLPRegressor as SkMLP\n"
                         "net_1x16 = SkMLP(hidden_layer_sizes=[16], random_state=1, max_iter=30)")
    assert ours.label == "MLPRegressor [16]" and ours.epochs == 30 and "test_mse" in ours.metrics
    assert ours.timings["samples_per_s"] > 0
    # scikit-learn's own estimator: fitted as in the lecture, its loss_curve_ recorded
    assert theirs.model is ip.user_ns["net_1x16"]  # the last line assigned it: that is the model
    assert theirs.loss_curve == pytest.approx(list(theirs.model.loss_curve_))
    assert [r.label for r in RUNS] == ["MLPRegressor [16]", "sklearn"]


def test_model_by_name_and_line_options_on_an_estimator(ip):
    ip.run_cell("from nnwidgets import MLPClassifier\nclf = MLPClassifier(hidden_layer_sizes=[8])")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nntrain(ip, "--model clf --data Xc,yc --epochs 7 --lr 0.05 --optimizer SGD --momentum 0.5 --seed 3",
                      "clf.set_params(alpha=0.0)")
    clf = ip.user_ns["clf"]
    assert res.model is clf and res.epochs == 7
    assert (clf.max_iter, clf.learning_rate_init, clf.solver, clf.momentum, clf.random_state) == (7, 0.05, "sgd", 0.5, 3)
    assert clf.alpha == 0.0 and res.task == "classification"


def test_hidden_spec_on_one_line(ip):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ip.run_line_magic("nntrain", "--hidden 8,4 --data Xc,yc --test Xc,yc --epochs 5 --seed 0 --out r2")
        reg = ip.run_line_magic("nntrain", "--hidden 8 --data X,y --epochs 3 --seed 0 -q")
    assert res.label == "MLPClassifier [8, 4]"  # 0./1. choices: classification, as in the lecture
    assert "test_accuracy" in res.metrics and ip.user_ns["r2"] is res
    assert reg is None and RUNS[2].label == "MLPRegressor [8]"  # -q: recorded, not displayed


def test_grid_sweep_records_every_model(ip):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sweep = nntrain(ip, "--data X,y --test X,y --grid 'lr=0.1,0.001' --epochs 4",
                        "from nnwidgets import MLPRegressor\nMLPRegressor(hidden_layer_sizes=[8], random_state=0)")
    assert len(sweep) == 2
    assert [r.label for r in RUNS] == list(sweep.labels)
    assert all("test_mse" in r.metrics and r.epochs == 4 for r in RUNS)
    assert "0.1" in RUNS[1].label and "0.001" in RUNS[2].label
    table = sweep.to_frame()  # what the cell shows: the test metrics too, not only train scores
    assert list(table["test_mse"]) == [r.metrics["test_mse"] for r in RUNS]


def test_grid_values_are_checked_once_by_sweep(ip, monkeypatch):
    # sweep checks every combination before training; %%nntrain only turns its
    # error into the one-line UsageError (it used to check every value itself first)
    import sys

    from nnwidgets import MLPRegressor

    checked_by = []
    validate = MLPRegressor._validate_params

    def spy(self):
        checked_by.append((sys._getframe(1).f_code.co_name, self.learning_rate_init))
        return validate(self)

    monkeypatch.setattr(MLPRegressor, "_validate_params", spy)
    with pytest.raises(UsageError) as info:
        nntrain(ip, "--data X,y --grid 'lr=0.1,abc' --epochs 4", "from nnwidgets import MLPRegressor\nMLPRegressor()")
    assert str(info.value).startswith("--grid: learning_rate_init='abc': The 'learning_rate_init' parameter")
    assert "\n" not in str(info.value) and len(RUNS) == 0
    # --epochs checked with the line's options, then the grid's two combinations by sweep, once each
    assert checked_by == [("_check_params", 0.001), ("sweep", 0.1), ("sweep", "abc")]


def test_text_progress_when_asked(ip, capsys):
    nntrain(ip, "--data X,y --epochs 3 --loss mse --progress text", "nn.Linear(6, 1)")
    out = capsys.readouterr().out
    assert "Training Linear on cpu for 3 epochs" in out and "done: epoch 3/3" in out


@pytest.mark.parametrize(
    "line, cell, message",
    [
        ("--epochs 3", "nn.Linear(6, 1)", "--data: is required"),
        ("--data X", "nn.Linear(6, 1)", "--data: expects 2 variable names"),
        ("--data X,nope", "nn.Linear(6, 1)", "--data: no variable named 'nope'"),
        ("--data X,yc --val X", "nn.Linear(6, 1)", "--val: expects 2 variable names"),
        ("--data X,y --epochs 0", "nn.Linear(6, 1)", "--epochs: 0 must be a positive integer"),
        ("--data X,y --epochs many", "nn.Linear(6, 1)", "argument --epochs/-e: invalid int value: 'many'"),
        ("--data X,y --optimizer lion", "nn.Linear(6, 1)", "--optimizer: 'lion' must be sgd or adam"),
        ("--data X,y --loss hinge", "nn.Linear(6, 1)", "--loss: loss='hinge' is not known"),
        ("--data X,y --nesterov", "nn.Linear(6, 1)", "--nesterov: nesterov=True needs momentum > 0"),
        ("--data X,y --momentum 1.5", "nn.Linear(6, 1)", "--momentum: momentum=1.5 must be between 0 and 1"),
        ("--data X,y --colour red", "nn.Linear(6, 1)", "unrecognized arguments: --colour red"),
        ("--data X,y", "import math", "--model: no model"),
        ("--data X,y", "x = 1", "--model: int is neither a torch.nn.Module nor an estimator"),
        ("--data X,y --model missing", "", "--model: no variable named 'missing'"),
        ("--data X,y --hidden 8,a", "", "--hidden: '8,a' must be layer sizes"),
        ("--data X,y --hidden 8", "nn.Linear(6, 1)", "--hidden: builds the model itself"),
        ("--data X,y --weight-decay 0.1", "from nnwidgets import MLPRegressor\nMLPRegressor()", "--weight-decay: applies to nn.Module"),
        ("--data X,y --val X,y", "from nnwidgets import MLPRegressor\nMLPRegressor()", "--val: applies to nn.Module"),
        ("--data X,y --momentum 0.9", "from sklearn.linear_model import LinearRegression\nLinearRegression()", "--momentum: LinearRegression has no parameter 'momentum'"),
        ("--data X,y --grid lr", "from nnwidgets import MLPRegressor\nMLPRegressor()", "--grid: 'lr' is not name=value1,value2"),
        ("--data X,y --grid lr=0.1", "nn.Linear(6, 1)", "--grid: sweeps estimators"),
        ("--data X,y --progress fancy", "nn.Linear(6, 1)", "--progress: mode='fancy'"),
        # the estimator path checks its options before training, as the module path does
        ("--data X,y --device tpu", "from nnwidgets import MLPRegressor\nMLPRegressor()", "--device: device='tpu' is not a valid device"),
        ("--data X,y --optimizer adamw", "from nnwidgets import MLPRegressor\nMLPRegressor()", "--optimizer: 'adamw' applies to nn.Module training"),
        ("--data X,y --momentum 2", "from nnwidgets import MLPRegressor\nMLPRegressor(solver='sgd')", "--momentum: The 'momentum' parameter"),
        ("--data X,y --grid lr=abc", "from nnwidgets import MLPRegressor\nMLPRegressor()", "--grid: learning_rate_init='abc'"),
        ("--data X,y --hidden 8 --loss huber", "", "--loss: 'huber' is not a loss of --hidden's MLPs"),
        ("--data X,y --hidden 8 --loss cross_entropy", "", "--loss: cross_entropy makes a classifier, but y looks like a regression target"),
        ("--data X,y --out 2x", "nn.Linear(6, 1)", "--out: '2x' is not a valid variable name"),
        ("--data X,y --seed -1", "nn.Linear(6, 1)", "--seed: -1 must be a whole number from 0 to 4294967295"),
        ("--data X,y --seed 4294967296 --grid lr=0.1", "from nnwidgets import MLPRegressor\nMLPRegressor()",
         "--seed: 4294967296 must be a whole number from 0 to 4294967295"),
        ("--data X,y --momentum -0.5", "nn.Linear(6, 1)", "--momentum: -0.5 must be a number >= 0, such as 0.9"),
        ("--data X,y --weight-decay -0.001", "nn.Linear(6, 1)", "--weight-decay: -0.001 must be a number >= 0"),
        ("--data X,y --weight-decay nan", "nn.Linear(6, 1)", "--weight-decay: nan must be a number >= 0"),
        ("--data X,y --grid 'lr=0.1;lr=0.01'", "from nnwidgets import MLPRegressor\nMLPRegressor()",
         "--grid: 'lr' is given twice; list its values once, e.g. lr=0.1,0.01"),
        ("--data X,y", "nn.Sequential(nn.Linear(7, 3), nn.ReLU(), nn.Linear(3, 1))",
         "--data: X has 6 features per sample, but the module's first layer nn.Linear(7, 3) expects 7; "
         "build it with nn.Linear(6, 3)"),
        # a forward() without return: was a TypeError with a traceback through nnwidgets' frames
        ("--data X,y", "class NoReturn(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                       "        self.l = nn.Linear(6, 1)\n    def forward(self, x):\n        self.l(x)\nNoReturn()",
         "--model: the module returned None, not a tensor: forward() has no `return`"),
        # batch norm on minibatches of one sample: the option to change is --batch-size (it said --model)
        ("--data X,y --batch-size 1 --loss mse", "nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))",
         "--batch-size: the module's BatchNorm1d layer cannot train on a minibatch of one sample"),
        ("--data X1,y1 --loss mse", "nn.Sequential(nn.Linear(6, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))",
         "--data: the module's BatchNorm1d layer cannot train on a minibatch of one sample"),
    ],
)
def test_misuse_is_a_one_line_usage_error_naming_the_option(ip, line, cell, message):
    ip.user_ns.update(X1=ip.user_ns["X"][:1], y1=ip.user_ns["y"][:1])  # a single sample
    with pytest.raises(UsageError) as info:
        nntrain(ip, line, cell)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert len(RUNS) == 0


def test_help_lists_every_option(ip, capsys):
    ip.run_cell("%nntrain?")  # what a student types
    doc = capsys.readouterr().out
    for option in ("--data", "--val", "--test", "--hidden", "--epochs", "--optimizer", "--lr", "--momentum",
                   "--nesterov", "--weight-decay", "--loss", "--batch-size", "--device", "--seed", "--out",
                   "--grid", "--model"):
        assert option in doc, option
    assert "%%nntrain --data X_train,y_train" in doc  # examples
    # the sweeps ship with nnwidgets: the help said "(needs nnwidgets.trainer.sweeps)", which
    # reads as something to install
    assert "needs nnwidgets.trainer.sweeps" not in doc and "one run per combination" in doc


def test_nnruns_table_and_charts(ip):
    nntrain(ip, "--data X,y --test X,y --epochs 5 --loss mse --label linear", "nn.Linear(6, 1)")
    nntrain(ip, "--data Xc,yc --test Xc,yc --epochs 5 --label logistic",
            "nn.Linear(6, 2)")  # 0./1. labels: classification with cross entropy
    comparison = ip.run_line_magic("nnruns", "")
    table = comparison.table
    assert list(table.index) == [1, 2] and list(table["label"]) == ["linear", "logistic"]
    assert table.loc[1, "test_mse"] > 0 and 0 <= table.loc[2, "test_accuracy"] <= 1
    assert comparison.png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 run(s)" in repr(comparison)
    # a regressor and a classifier: each metric has its bars, each loss its axis
    from nnwidgets.widgets.figures import comparison_figure

    titles = [ax.get_title() for ax in comparison_figure(comparison.runs).axes]
    assert "Test accuracy (1 run(s) without it not shown)" in titles
    assert "Test MSE (1 run(s) without it not shown)" in titles
    assert {"Training loss (classifiers: cross-entropy)", "Training loss (regressors: squared error)"} <= set(titles)
    assert ip.run_line_magic("nnruns", "2").table.index.tolist() == [2]
    assert ip.run_line_magic("nnruns", "--last 1").table.index.tolist() == [2]
    with pytest.raises(UsageError, match="no run 9; recorded runs: 1, 2"):
        ip.run_line_magic("nnruns", "9")
    ip.run_line_magic("nnruns", "--clear")
    assert len(RUNS) == 0
    assert "No training runs recorded yet" in repr(ip.run_line_magic("nnruns", ""))


def test_mice_protein_lecture_cells_on_the_real_data(ip, mice_csv):
    """The lecture's mice protein comparison (real data, processed as in the lecture),
    cell by cell: train a few classifiers, then compare them with %nnruns."""
    ip.user_ns["mice_csv"] = str(mice_csv)
    ip.run_cell(
        "import pandas as pd\n"
        "mice = pd.read_csv(mice_csv, encoding='utf-8-sig')\n"
        "miss_too_many = mice.isnull().sum() > 10\n"
        "mice3 = mice.loc[:, ~miss_too_many].dropna()\n"
        "Xm = mice3.loc[:, 'DYRK1A_N':'CaNA_N']\n"
        "ym = mice3['class']\n"
        "Xm_train, Xm_test, ym_train, ym_test = train_test_split(Xm, ym, shuffle=True, test_size=0.3, random_state=3)"
    )
    assert ip.user_ns["Xm_train"].shape == (751, 69)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sizes in ("[100]", "[100, 100, 30, 30, 10]"):
            nntrain(ip, "--data Xm_train,ym_train --test Xm_test,ym_test",
                    f"from nnwidgets import MLPClassifier\nMLPClassifier(hidden_layer_sizes={sizes}, random_state=1, max_iter=60)")
    comparison = ip.run_line_magic("nnruns", "")
    table = comparison.table
    assert list(table["label"]) == ["MLPClassifier [100]", "MLPClassifier [100, 100, 30, 30, 10]"]
    assert (table["test_accuracy"] > 0.5).all()  # 8 classes: chance is 1/8
    assert set(RUNS[1].predictions["y_pred"]) <= set(ip.user_ns["ym"])  # class names, not indices
    assert comparison.png()[:8] == b"\x89PNG\r\n\x1a\n"  # bars + curves + two confusion matrices


def test_an_error_in_the_cell_shows_the_students_line_not_nnwidgets_frames(ip, capsys):
    result = ip.run_cell(
        "%%nntrain --data X,y --epochs 3\n"
        "hidden = 10\n"
        "nn.Sequential(nn.Linear(6, hiden), nn.ReLU(), nn.Linear(hidden, 1))\n"
    )
    assert isinstance(result.error_in_exec, NameError)
    shown = capsys.readouterr().out
    # the traceback quotes the line with the typo, at its line number in the cell
    assert "nn.Sequential(nn.Linear(6, hiden)" in shown and "line 3" in shown
    assert "Could not get source" not in shown
    assert "training_cell.py" not in shown and "magics/training.py" not in shown


def test_seed_repeats_the_hand_written_loop_seeded_once(ip):
    """a5: the lecture's loop seeds numpy and torch once, builds the dropout
    network and trains it; %%nntrain --seed 1 with the same settings must give
    the same losses (its seed comes before the body, and only there)."""
    ip.run_cell(DECODER.replace("DecodingReLuNN(X_train.shape[1], 64)", ""))
    ip.run_cell(
        "Xt = torch.tensor(X_train, dtype=torch.float32); Yt = torch.tensor(y_train)\n"
        "np.random.seed(1); torch.manual_seed(1)\n"
        "hand = DecodingReLuNN(Xt.shape[1], 64)\n"
        "opt = torch.optim.SGD(hand.parameters(), lr=0.1, weight_decay=1e-4); lf = nn.CrossEntropyLoss()\n"
        "hand_losses = []\n"
        "for _ in range(5):\n"
        "    out = hand(Xt); opt.zero_grad(); loss = lf(out, Yt); loss.backward(); opt.step()\n"
        "    hand_losses.append(loss.item())\n"
    )
    result = nntrain(ip, "--data Xt,Yt --epochs 5 --optimizer sgd --lr 0.1 --weight-decay 1e-4 "
                         "--loss cross_entropy --seed 1", "DecodingReLuNN(Xt.shape[1], 64)")
    np.testing.assert_allclose(result.loss_curve, ip.user_ns["hand_losses"], rtol=1e-6)
    assert result.params["seed"] == 1


def test_warnings_of_the_training_are_the_cells_and_shown_once(ip):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = nntrain(ip, "--data X,y --epochs 3",
                         "from nnwidgets import MLPRegressor\nMLPRegressor(hidden_layer_sizes=[4])")
    assert "3 epochs on cpu, ran all its epochs (max_iter)" in repr(result)  # not "stopped: max_iter"
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1 and "Maximum iterations (3)" in str(convergence[0].message)
    assert convergence[0].filename == "%%nntrain"  # not estimator_training.py or scikit-learn's file
    # the notebook's own filters still decide
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        nntrain(ip, "--data X,y --epochs 3", "from nnwidgets import MLPRegressor\nMLPRegressor(hidden_layer_sizes=[4])")
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_a_fit_that_diverges_at_once_still_says_so_where_the_plot_goes(ip):
    from IPython.utils.capture import capture_output

    with capture_output() as captured, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = nntrain(ip, "--data X,y --epochs 5 --progress widget",
                         "from nnwidgets import MLPRegressor\nMLPRegressor(learning_rate_init=1e6, batch_size=10)")
    assert result.stop_reason == "diverged" and result.epochs == 0
    shown = [o.data.get("text/plain", "") for o in captured.outputs]
    assert any(text.startswith("Loss curves (diverged)") and "no epochs" in text for text in shown), shown


def test_sweep_runs_have_distinct_labels_in_the_comparison_chart(ip):
    from nnwidgets.widgets.figures import comparison_figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nntrain(ip, "--data X,y --test X,y --epochs 3 --grid 'lr=0.0001,0.001,0.01'",
                "from nnwidgets import MLPRegressor\nMLPRegressor(hidden_layer_sizes=[4])")
    fig = comparison_figure(ip.run_line_magic("nnruns", "").runs)
    bars = next(ax for ax in fig.axes if ax.get_title().startswith("Test MSE"))
    ticks = [t.get_text() for t in bars.get_xticklabels()]
    assert len(ticks) == 3 and len(set(ticks)) == 3, ticks  # (cut in the middle, not at the end)
    assert all(t.endswith(("0.0001", "0.001", "0.01")) for t in ticks), ticks


@pytest.mark.parametrize("line", ["--hidden 8 --data X,y --epochs 3 --seed 0 -q",
                                  "--hidden 8 --data X,y --grid 'lr=0.1,0.01' --epochs 3 --seed 0 -q"])
def test_the_cells_plot_is_closed_once_its_image_is_out(ip, line):
    """ipywidgets keeps every open widget alive in the kernel and the browser
    (and saves it with the notebook's widget state): the plot a %%nntrain
    cell makes for itself is closed when the cell has shown its image."""
    from ipywidgets.widgets.widget import _instances

    from nnwidgets.widgets.lossplot import LiveLossPlot

    def open_plots():
        return {id(w) for w in _instances.values() if isinstance(w, LiveLossPlot)}

    before = open_plots()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ip.run_line_magic("nntrain", line)
    assert len(RUNS) >= 1  # it trained
    assert open_plots() == before


def test_run_table_and_bar_labels_share_one_number_format(ip):
    from nnwidgets.widgets.figures import comparison_figure, format_number

    # bar labels: 3 significant digits, whole numbers with separators from 1,000; the table: 4 and 10,000
    assert [format_number(v) for v in (0.123456, 999.4, 1234.5, -12345.6)] == ["0.123", "999", "1,234", "-12,346"]
    assert [format_number(v, digits=4) for v in (0.123456, 1234.5, 9999.4, 12345.6)] == [
        "0.1235", "1234", "9999", "12,346"]
    res = nntrain(ip, "--data X,y --test X,y --epochs 2 --loss mse", "nn.Linear(6, 1)")
    mse = res.metrics["test_mse"]
    assert mse > 10_000  # untrained on y around 150: both formats use separators
    comparison = ip.run_line_magic("nnruns", "")
    assert f">{format_number(mse, digits=4)}<" in comparison._repr_mimebundle_()["text/html"]
    bars = next(ax for ax in comparison_figure(comparison.runs).axes if ax.get_title().startswith("Test MSE"))
    assert format_number(mse) in [t.get_text() for t in bars.texts]


FLAKY = '''
class Flaky(nn.Linear):
    """nn.Linear whose forward raises on its {n}th call (the 1st is the trainer's shape probe)."""
    calls = 0

    def forward(self, x):
        Flaky.calls += 1
        if Flaky.calls == {n}:
            raise {error}
        return super().forward(x)

net = Flaky(6, 1)
'''


@pytest.mark.parametrize("line, cell", [
    pytest.param("--model net --data X,y --epochs 2 --out res", "net = nn.Linear(7, 1)",
                 id="the model does not fit the data"),
    pytest.param("--model net --data X,y --epochs 2 --device tpu --out res", "net = nn.Linear(6, 1)",
                 id="a bad option found after the body ran"),
    pytest.param("--data X,y --epochs 2 --out res", "net = nn.Linear(6, 1)\nextra = 1\nnet.no_such_layer",
                 id="an error in the body after it assigned net"),
    pytest.param("--model net --data X,y --epochs 5 --loss mse --out res",
                 FLAKY.format(n=3, error="RuntimeError('flaky')"), id="an error in the second epoch"),
])
def test_a_failed_cell_leaves_the_notebooks_variables_as_they_were(ip, line, cell):
    ip.run_cell("net = nn.Linear(6, 1); trained = net; res = 'the earlier result'")
    ip.user_ns.pop("extra", None)
    ip.user_ns.pop("Flaky", None)
    result = ip.run_cell(f"%%nntrain {line}\n{cell}")
    assert result.error_in_exec is not None
    assert ip.user_ns["net"] is ip.user_ns["trained"]  # not the cell's new, untrained model
    assert ip.user_ns["res"] == "the earlier result"
    assert "extra" not in ip.user_ns and "Flaky" not in ip.user_ns  # nothing the body assigned is kept
    assert len(RUNS) == 0


def test_an_interrupted_training_keeps_the_model_and_its_result(ip):
    ip.run_cell("net = 'the earlier net'; res = 'the earlier result'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Training interrupted by user"
        # forward calls: the probe, epochs 1-3, then Ctrl-C in epoch 4
        result = nntrain(ip, "--model net --data X,y --epochs 10 --loss mse --out res",
                         FLAKY.format(n=5, error="KeyboardInterrupt"))
    assert result.stop_reason == "interrupted" and result.epochs == 3
    assert ip.user_ns["res"] is result and ip.user_ns["net"] is result.model
    assert type(result.model).__name__ == "Flaky" and RUNS[1] is result


@pytest.mark.parametrize("line", [
    pytest.param("--model clf --data Xc,yc --epochs 3 --lr 0.5 --momentum 5", id="rejected by scikit-learn's check"),
    pytest.param("--model clf --data Xnan,yc --epochs 3 --lr 0.5", id="fit fails on the data"),
    pytest.param("--model clf --data Xc,yc --epochs 3 --grid 'lr=0.1,abc'", id="a sweep with a bad value"),
])
def test_a_failed_cell_leaves_the_estimators_parameters_as_they_were(ip, line):
    """The line's options (--epochs, --lr, ...) are set on the estimator's own
    parameters; when the cell fails they are set back."""
    ip.user_ns["Xnan"] = np.where(np.eye(120, 6, dtype=bool), np.nan, ip.user_ns["X"])
    ip.run_cell("from nnwidgets import MLPClassifier\n"
                "clf = MLPClassifier(hidden_layer_sizes=[4], solver='sgd', max_iter=50, learning_rate_init=0.01)")
    before = ip.user_ns["clf"].get_params()
    result = ip.run_cell(f"%nntrain {line}")
    assert result.error_in_exec is not None
    assert ip.user_ns["clf"].get_params() == before
    assert len(RUNS) == 0


@pytest.mark.parametrize("line, model, message", [
    ("--data X,y --test X5,y", "MLPRegressor(hidden_layer_sizes=[4])",
     "--test: X5 has 5 features per sample (shape (120, 5)), but the training data X has 6 (shape (120, 6))"),
    ("--data X,y --test X5,y", "nn.Linear(6, 1)",
     "--test: X5 has 5 features per sample (shape (120, 5)), but the training data X has 6 (shape (120, 6))"),
    ("--data X,y --val X5,y", "nn.Linear(6, 1)",
     "--val: X5 has 5 features per sample (shape (120, 5)), but the training data X has 6 (shape (120, 6))"),
    ("--data X,y --test X,Y2", "nn.Linear(6, 1)",
     "--test: Y2 has 2 target values per sample (shape (120, 2)), but the training targets y have 1 (shape (120,))"),
    ("--data Xdf,y --test Xdf_renamed,y", "MLPRegressor(hidden_layer_sizes=[4])",
     "--test: Xdf_renamed's columns are not Xdf's: it lacks 'f0' and has 'F0' instead"),
    ("--data Xdf,y --test Xdf_reordered,y", "nn.Linear(6, 1)",
     "--test: Xdf_reordered has Xdf's columns in another order; select them in Xdf's order: Xdf_reordered[Xdf.columns]"),
    ("--data X,y --test X,yshort", "nn.Linear(6, 1)", "--test: X has 120 rows but yshort has 7"),
])
def test_test_data_is_checked_before_the_body_and_training(ip, line, model, message):
    """A typo in --test/--val is a one-line error before anything runs, naming
    the variables and their shapes (it used to be found after training, or named
    the trainer's X_test)."""
    pd = pytest.importorskip("pandas")
    X = ip.user_ns["X"]
    Xdf = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    ip.user_ns.update(X5=X[:, :5], Y2=np.stack([ip.user_ns["y"]] * 2, axis=1), yshort=np.zeros(7), Xdf=Xdf,
                      Xdf_renamed=Xdf.rename(columns={"f0": "F0"}), Xdf_reordered=Xdf[Xdf.columns[::-1]], ran=[])
    with pytest.raises(UsageError) as info:
        nntrain(ip, line + " --epochs 3", f"from nnwidgets import MLPRegressor\nran.append(1)\n{model}")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert ip.user_ns["ran"] == [] and len(RUNS) == 0  # neither the body nor a training ran


@pytest.mark.parametrize("line, cell, message", [
    ("--model clf --data Xc,ys --test Xc,ys_test", "clf", "--test: ys_test holds labels that ys does not: 'z' (64 of 120"),
    ("--model clf --data Xc,yc --test Xc,ys", "clf", "--test: ys holds labels that yc does not: 'a', 'b' (120 of 120"),
    ("--data Xc,ys --test Xc,ys_test", "nn.Linear(6, 2)", "--test: ys_test holds labels that ys does not: 'z' (64 of 120"),
    ("--data Xc,yc --val Xc,y3", "nn.Linear(6, 3)", "--val: y3 holds labels that yc does not: 2 (14 of 120"),
    ("--data Xc,ys --test Xc,ys_test --hidden 4", "", "--test: ys_test holds labels that ys does not: 'z'"),
    ("--data Xc,ys --test Xc,ys_test --grid 'lr=0.1,0.01'", "clf",
     "--test: ys_test holds labels that ys does not: 'z'"),
])
def test_test_labels_unseen_in_training_are_named_before_training(ip, line, cell, message):
    X = ip.user_ns["X"]
    ip.user_ns.update(ys=np.where(X[:, 0] > 0, "a", "b"), ys_test=np.where(X[:, 0] > 0, "a", "z"),
                      y3=(X[:, 0] > 0).astype(int) + (X[:, 1] > 1))
    ip.run_cell("from nnwidgets import MLPClassifier\nclf = MLPClassifier(hidden_layer_sizes=[4], max_iter=5)")
    with pytest.raises(UsageError) as info:
        nntrain(ip, line + " --epochs 3", cell)
    text = str(info.value)
    assert message in text and "stratify" in text and "\n" not in text, text
    assert not hasattr(ip.user_ns["clf"], "coefs_") and len(RUNS) == 0  # nothing was trained


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_few_test_labels_unseen_in_training_are_a_warning_and_training_runs(ip):
    """A rare class that missed the training split by chance (here 5 of 120
    test samples) is a warning naming it: those samples count as errors, and
    the rest of the test set still says how good the model is."""
    X = ip.user_ns["X"]
    ys = np.where(X[:, 0] > 0, "a", "b")
    ys_rare = ys.astype("<U4")
    ys_rare[:5] = "rare"
    ip.user_ns.update(ys=ys, ys_rare=ys_rare)
    ip.run_cell("from nnwidgets import MLPClassifier\nclf = MLPClassifier(hidden_layer_sizes=[4], max_iter=5)")
    with pytest.warns(UserWarning, match=r"--test: ys_rare holds labels that ys does not: 'rare' \(5 of 120 samples\)"):
        result = nntrain(ip, "--model clf --data X,ys --test X,ys_rare --epochs 3", "clf")
    assert hasattr(ip.user_ns["clf"], "coefs_") and len(RUNS) == 1
    assert result.metrics["test_accuracy"] <= 115 / 120  # the 5 count as errors


def _run(label, task, losses=(3.0, 2.0, 1.0), metrics=None, y_true=None, y_pred=None, **fields):
    from nnwidgets.trainer.events import History

    result = TrainResult(model=None, history=History({"epoch": i + 1, "loss": v} for i, v in enumerate(losses)),
                         metrics=dict(metrics or {}), task=task, label=label, **fields)
    if y_true is not None:
        result.predictions = {"y_true": np.asarray(y_true), "y_pred": np.asarray(y_pred), "split": "test"}
    return result


ODD_RUNS = {
    "no test metrics": _run("train only", "regression", metrics={"train_loss": 1.0, "train_mse": 1.0}),
    "interrupted at once": _run("interrupted", "classification", losses=(), stop_reason="interrupted",
                                timings={"total_s": 0.1, "per_epoch_s": None, "samples_per_s": None}),
    "labels of two kinds": _run("str vs int", "classification", metrics={"test_accuracy": 0.0},
                                y_true=["a", "b", "a"], y_pred=[0, 1, 1]),
    "a metric without a value": _run("no value", "classification", metrics={"test_accuracy": None}),
    "an empty test set": _run("empty test", "regression", metrics={"test_mse": float("nan")}, y_true=[], y_pred=[]),
    "NaN labels": _run("nan label", "classification", metrics={"test_accuracy": 0.5},
                       y_true=[1.0, float("nan")], y_pred=[1.0, 0.0]),
    "diverged": _run("diverged", "regression", losses=(1.0, float("nan"), float("inf")), stop_reason="diverged",
                     metrics={"test_mse": float("nan")}, y_true=[1.0, 2.0], y_pred=[float("nan")] * 2),
    "unknown task": _run("no task", None, y_true=[1, 2], y_pred=[1, 2]),
    # equal to run 1 in every field up to its predictions (a TrainResult compares numpy arrays)
    "a twin of another run": _run("regressor", "regression", metrics={"test_mse": 0.5, "test_r2": 0.9},
                                  y_true=[1.0, 2.0, 3.0], y_pred=[1.0, 2.0, 3.0]),
}


@pytest.mark.parametrize("odd", list(ODD_RUNS))
def test_nnruns_shows_what_it_can_of_odd_runs(ip, odd):
    """Runs without test metrics, interrupted with no epoch, with labels of two
    kinds, ... next to a regressor and a classifier: %nnruns shows the table and
    the charts it can draw, and never raises."""
    import base64

    from IPython.utils.capture import capture_output

    from nnwidgets.widgets.figures import comparison_figure

    RUNS.record(_run("regressor", "regression", metrics={"test_mse": 0.5, "test_r2": 0.9},
                     y_true=[1.0, 2.0, 3.0], y_pred=[1.1, 2.1, 2.8]))
    RUNS.record(_run("classifier", "classification", metrics={"test_accuracy": 0.75},
                     y_true=["a", "b", "b", "a"], y_pred=["a", "b", "a", "a"]))
    RUNS.record(ODD_RUNS[odd])
    for line in ("", "--log", "3"):
        comparison = ip.run_line_magic("nnruns", line)
        assert list(comparison.table.index) == ([3] if line == "3" else [1, 2, 3])
        assert ODD_RUNS[odd].label in repr(comparison)
        bundle = comparison._repr_mimebundle_()
        assert ODD_RUNS[odd].label in bundle["text/html"]
        assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
        with capture_output() as shown:
            comparison._ipython_display_()
        assert len(shown.outputs) == 2  # the table, then the charts
    titles = [ax.get_title() for ax in comparison_figure(list(RUNS)).axes]
    assert any(t.startswith("Test accuracy") for t in titles) and any(t.startswith("Test MSE") for t in titles)
    assert any(t.startswith("1: regressor") or t == "Predicted vs true (test set)" for t in titles)
    assert any(t.startswith("2: classifier") for t in titles), titles  # its confusion matrix


def test_nnruns_shows_the_table_when_no_chart_can_be_drawn(ip, monkeypatch):
    from IPython.utils.capture import capture_output

    from nnwidgets.widgets import figures

    def broken(*args, **kwargs):
        raise RuntimeError("matplotlib is broken")

    monkeypatch.setattr(figures, "comparison_figure", broken)
    RUNS.record(_run("regressor", "regression", metrics={"test_mse": 0.5}, y_true=[1.0, 2.0], y_pred=[1.0, 2.0]))
    comparison = ip.run_line_magic("nnruns", "")
    assert "regressor" in comparison._repr_mimebundle_()["text/html"]
    with capture_output() as shown:
        comparison._ipython_display_()
    assert "regressor" in shown.outputs[0].data["text/html"]
    assert shown.outputs[1].data["image/png"]  # a picture saying why there are no charts


def test_nnruns_misuse_names_the_option_and_forgets_nothing(ip):
    nntrain(ip, "--data X,y --epochs 2 --loss mse", "nn.Linear(6, 1)")
    nntrain(ip, "--data X,y --epochs 2 --loss mse", "nn.Linear(6, 1)")
    for line, message in [("--last 0", "--last: 0 must be a positive number of runs, e.g. --last 3"),
                          ("--clear 2", "--clear: forgets every recorded run; give it alone, without run numbers"),
                          ("--clear --last 1", "--clear: forgets every recorded run; give it alone, without run numbers")]:
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("nnruns", line)
        assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)
        assert len(RUNS) == 2  # a --clear that was meant for run 2 alone forgets nothing
    assert ip.run_line_magic("nnruns", "2 2 1").table.index.tolist() == [2, 1]  # each run once


@pytest.mark.parametrize("line, cell, message", [
    ("--data X,y --test Xnan,y", "MLPRegressor(hidden_layer_sizes=[4])",
     "--test: Xnan contains NaN or infinity (first at index (0, 0)); remove or impute those values"),
    ("--data X,y --val Xnan,y", "nn.Linear(6, 1)", "--val: Xnan contains NaN or infinity (first at index (0, 0))"),
    ("--data X,y --test X,ynan", "nn.Linear(6, 1)", "--test: ynan contains NaN or infinity (first at index (3,))"),
    ("--data Xnan,y", "nn.Linear(6, 1)", "--data: Xnan contains NaN or infinity (first at index (0, 0))"),
    ("--data X,ynan", "MLPRegressor(hidden_layer_sizes=[4])", "--data: ynan contains NaN or infinity"),
])
def test_data_with_nan_is_named_before_training(ip, line, cell, message):
    X = ip.user_ns["X"]
    ip.user_ns.update(Xnan=np.where(np.eye(120, 6, dtype=bool), np.nan, X),
                      ynan=np.where(np.arange(120) == 3, np.inf, ip.user_ns["y"]))
    with pytest.raises(UsageError) as info:
        nntrain(ip, line + " --epochs 3", f"from nnwidgets import MLPRegressor\n{cell}")
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert len(RUNS) == 0


def test_test_data_with_nan_is_fine_for_a_model_that_takes_nan(ip):
    ip.user_ns["Xnan"] = np.where(np.eye(120, 6, dtype=bool), np.nan, ip.user_ns["X"])
    result = nntrain(ip, "--data X,y --test Xnan,y", "from sklearn.ensemble import HistGradientBoostingRegressor\n"
                                                     "HistGradientBoostingRegressor(max_iter=5)")
    assert np.isfinite(result.metrics["test_mse"])
