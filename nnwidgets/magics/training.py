"""``%%nntrain`` and ``%nnruns``: parse the line, call one function."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


class _Parser:
    """Turns argparse's complaints into a one-line UsageError naming the option."""

    @staticmethod
    def parse(func, line: str):
        try:
            return parse_argstring(func, line)
        except UsageError as exc:
            raise UsageError(str(exc).strip().splitlines()[-1]) from None
        except SystemExit:  # pragma: no cover - argparse exit on --help
            raise UsageError(f"see {func.__name__}? for the options") from None


def _unquote(value):
    """IPython keeps the quotes of a quoted option (--label 'NN 1x100')."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


@magics_class
class TrainingMagics(Magics):
    """Training magics of nnwidgets (``%load_ext nnwidgets``)."""

    @magic_arguments()
    @argument("--data", "-d", metavar="X,y", help="training data: two variable names, e.g. X_train,y_train (required)")
    @argument("--val", metavar="X,y", help="validation data, recorded every epoch (nn.Module training)")
    @argument("--test", "-t", metavar="X,y", help="test data for the final metrics, e.g. X_test,y_test")
    @argument("--model", "-m", metavar="NAME", help="variable holding the model (default: the cell's last expression)")
    @argument("--hidden", metavar="SIZES", help="no model in the cell: train an nnwidgets MLP with these hidden layers, e.g. 100 or 100,100")
    @argument("--task", choices=("classification", "regression"), help="with --hidden: the kind of MLP (default: inferred from y)")
    @argument("--epochs", "-e", type=int, help="passes over the data (nn.Module default 100; estimators: max_iter)")
    @argument("--optimizer", "-o", help="nn.Module: sgd (default), adam, adamw or rmsprop; estimators: their solver (adam, sgd, lbfgs)")
    @argument("--lr", type=float, help="learning rate (nn.Module default 0.01; estimators: learning_rate_init)")
    @argument("--momentum", type=float, help="SGD momentum")
    @argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    @argument("--weight-decay", "--wd", dest="weight_decay", type=float, help="L2 weight decay (nn.Module training)")
    @argument("--loss", help="nn.Module: cross_entropy, mse, bce, l1, huber or nll (default from the targets); with --hidden: cross_entropy or squared_error")
    @argument("--batch-size", "-b", dest="batch_size", type=int, help="minibatch size (default: full batch for nn.Module)")
    @argument("--device", help="auto (default), cpu or cuda")
    @argument("--seed", "-s", type=int, help="seed Python, NumPy and torch before the cell body runs")
    @argument("--label", "-l", help="name of the run in %%nnruns")
    @argument("--out", metavar="VAR", help="variable that receives the result")
    @argument("--grid", metavar="SPEC", help="sweep an estimator's settings, e.g. 'lr=0.1,0.01;alpha=1e-4,1e-3' (option or parameter names): one run per combination, each in %%nnruns")
    @argument("--progress", default="auto", help="auto, widget, text or none")
    @argument("--quiet", "-q", action="store_true", help="do not display the result (use with --out)")
    @line_cell_magic
    def nntrain(self, line: str, cell: str | None = None):
        """Train a model from a cell, watching a live loss plot.

        ``%%nntrain OPTIONS`` with a cell body, or ``%nntrain --hidden ... OPTIONS``
        on one line (no body).

        The cell builds the model: a ``torch.nn.Module``, an nnwidgets or
        scikit-learn estimator (its last expression, or the variable named by
        ``--model``), or nothing when ``--hidden`` gives an MLP. The run is
        recorded for ``%nnruns``; the result (model, history, metrics, timings
        per epoch and samples/s on its device) is returned and, with
        ``--out VAR``, stored in ``VAR``. The Stop button or the kernel's
        Interrupt end training and keep the model. A cell that fails leaves
        the notebook's variables as they were.

        Examples::

            %%nntrain --data X_train,y_train --test X_test,y_test --epochs 1000 --lr 0.1 --weight-decay 1e-4 --seed 1 --out res
            DecodingReLuNN(X_train.shape[1], 509)

            %%nntrain --data X_train,y_train --test X_test,y_test
            MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=1000)

            %%nntrain --hidden 100,100 --data X_train,y_train --test X_test,y_test --seed 1
        """
        from nnwidgets.widgets.training_cell import TrainingCellError, run_training_cell

        __tracebackhide__ = True  # an error in the cell shows the cell's line, not these frames
        args = _Parser.parse(self.nntrain, line)
        options = {k: _unquote(v) for k, v in vars(args).items()}
        quiet = options.pop("quiet")
        try:
            result = run_training_cell(cell or "", self.shell.user_ns, shell=self.shell, **options)
        except TrainingCellError as exc:
            raise UsageError(str(exc)) from None
        return None if quiet else result

    @magic_arguments()
    @argument("runs", nargs="*", type=int, help="run numbers to compare (default: all)")
    @argument("--last", "-n", type=int, help="compare the last N runs")
    @argument("--log", action="store_true", help="log-scale loss curves")
    @argument("--clear", action="store_true", help="forget all recorded runs")
    @line_magic
    def nnruns(self, line: str = ""):
        """Compare the runs recorded by %%nntrain: a table, test-metric bars,
        overlaid loss curves, predicted-vs-true (regression) or confusion
        matrices (classification).

        Examples: ``%nnruns``, ``%nnruns 1 3``, ``%nnruns --last 2 --log``.
        """
        from nnwidgets.widgets import runs

        args = _Parser.parse(self.nnruns, line)
        if args.clear:
            if args.runs or args.last is not None:  # (meant for some runs? it would forget them all)
                raise UsageError("--clear: forgets every recorded run; give it alone, without run numbers or --last")
            runs.clear()
            return None
        if args.last is not None and args.last < 1:
            raise UsageError(f"--last: {args.last} must be a positive number of runs, e.g. --last 3")
        try:
            return runs.compare(args.runs or None, last=args.last, log_y=args.log)
        except (KeyError, ValueError) as exc:
            raise UsageError(str(exc).strip("'\"")) from None
