"""The training engine behind the MLP estimators: K same-architecture MLPs
trained at once as one stacked network.

Every tensor has a leading model axis K. A single ``fit`` is the K = 1 case.
All parameters of one model live in one flat row of a ``[K, P]`` buffer,
packed like scikit-learn's ``_pack`` (all weight matrices, then all biases),
so the optimiser updates every parameter of every model with a handful of
fused element-wise ops, and the L2 penalty touches one contiguous slice.

Forward and backward passes are written by hand (no autograd): each layer is
one batched matmul (``baddbmm``) over the K models, gradients are written into
the flat gradient buffer through views. Data sit on the device once; each
epoch uploads one index array (the shuffled minibatches of all K models) and
one small table of per-step, per-model coefficients (learning rate, masks,
loss weights), and synchronises once (losses and validation metrics).

Per-model differences (data subset, shuffle RNG, initial weights,
hyper-parameters, stopping) are carried by those tables: a model with no
batch at a step, or one that has finished, gets zero coefficients and does not
change. Finished models are dropped from the stack at epoch boundaries.

This module is private: :mod:`nnwidgets.trainer.estimators` and
:mod:`nnwidgets.trainer.batched` are its users.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nnwidgets.trainer.events import CallbackList, History

# columns of the per-step coefficient table [S, NCOEF, K]
_C_A, _C_B, _C_EPS, _C_LR, _C_REGG, _C_LOSS, _C_REGL, _C_PV, _C_PG = range(9)
_NCOEF = 9


@dataclass
class ModelRun:
    """One model of a stack: its data, hyper-parameters and bookkeeping.

    Filled by the estimator (``_prepare_run``), trained by :func:`train_runs`,
    read back by the estimator (``_finish_run``).
    """

    est: Any
    params: np.ndarray  # flat, packed like sklearn's _pack
    X: np.ndarray  # validated features of this model's dataset
    Y: np.ndarray  # 2-D encoded targets (float)
    data_key: Any  # equal keys share one device copy of (X, Y)
    sample_weight: np.ndarray | None
    train_rows: np.ndarray  # rows of X used for training, in sklearn's order
    val_rows: np.ndarray | None  # rows held out for early stopping
    val_score: str | None  # "r2" | "accuracy" | None
    rng: np.random.RandomState
    hyper: dict
    batch_size: int
    incremental: bool
    opt_state: dict | None  # optimiser state to continue from (partial_fit)
    book: dict  # loss_curve_, best_loss_, ... continued across warm starts
    best_params: np.ndarray | None  # early stopping: best weights so far
    history: History
    callbacks: CallbackList
    label: str = ""
    # outputs
    stop_reason: str = "max_iter"
    n_iter: int = 0
    warned: list = field(default_factory=list)


class _Layout:
    """Offsets of each layer's weights and biases inside a flat parameter row."""

    def __init__(self, layer_units):
        self.units = list(layer_units)
        self.n_layers = len(self.units) - 1
        self.coef = []
        start = 0
        for i in range(self.n_layers):
            n_in, n_out = self.units[i], self.units[i + 1]
            self.coef.append((start, start + n_in * n_out, n_in, n_out))
            start += n_in * n_out
        self.n_coef = start
        self.bias = []
        for i in range(self.n_layers):
            n_out = self.units[i + 1]
            self.bias.append((start, start + n_out))
            start += n_out
        self.size = start

    def views(self, flat):
        """[K, P] buffer -> lists of W [K, in, out] and b [K, 1, out] views."""
        K = flat.shape[0]
        Ws = [flat[:, s:e].view(K, i, o) for (s, e, i, o) in self.coef]
        bs = [flat[:, s:e].view(K, 1, e - s) for (s, e) in self.bias]
        return Ws, bs

    def unpack(self, flat_row: np.ndarray):
        coefs = [flat_row[s:e].reshape(i, o).copy() for (s, e, i, o) in self.coef]
        intercepts = [flat_row[s:e].copy() for (s, e) in self.bias]
        return coefs, intercepts


def pack(coefs, intercepts, dtype) -> np.ndarray:
    return np.hstack([np.asarray(c, dtype=dtype).ravel() for c in list(coefs) + list(intercepts)])


def _hidden_forward(name):
    if name == "relu":
        return torch.Tensor.relu_
    if name == "tanh":
        return torch.Tensor.tanh_
    if name == "logistic":
        return torch.Tensor.sigmoid_
    return None  # identity


def _hidden_backward(name):
    """delta, activation -> delta * f'(z), written from the activation f(z)."""
    if name == "relu":
        return lambda d, a: torch.ops.aten.threshold_backward.grad_input(d, a, 0, grad_input=d)
    if name == "tanh":
        return lambda d, a: torch.ops.aten.tanh_backward.grad_input(d, a, grad_input=d)
    if name == "logistic":
        return lambda d, a: torch.ops.aten.sigmoid_backward.grad_input(d, a, grad_input=d)
    return None


class StackNet:
    """K stacked MLPs on one device: parameters, buffers and the hand-written
    forward/backward pass. Shared by the stochastic solvers and L-BFGS."""

    def __init__(self, layout: _Layout, K: int, activation: str, out_activation: str,
                 loss: str, device, dtype):
        self.layout = layout
        self.K = K
        self.device = device
        self.dtype = dtype
        self.activation = activation
        self.out_activation = out_activation
        self.loss = loss
        self.params = torch.zeros(K, layout.size, device=device, dtype=dtype)
        self.grads = torch.zeros_like(self.params)
        self.Ws, self.bs = layout.views(self.params)
        self.gWs, self.gbs = layout.views(self.grads)
        self.WsT = [W.transpose(1, 2) for W in self.Ws]
        self.pc = self.params[:, : layout.n_coef]
        self.gc = self.grads[:, : layout.n_coef]
        self._act = _hidden_forward(activation)
        self._dact = _hidden_backward(activation)
        self._buffers: dict[int, tuple] = {}
        self.n_out = layout.units[-1]
        self._eps = float(torch.finfo(dtype).eps)

    # buffers per minibatch size B, reused every step (no allocation in the loop)
    def buffers(self, B):
        buf = self._buffers.get(B)
        if buf is None:
            K, units = self.K, self.layout.units
            kw = dict(device=self.device, dtype=self.dtype)
            x = torch.empty(K * B, units[0], **kw)
            acts = [x.view(K, B, units[0])] + [torch.empty(K, B, u, **kw) for u in units[1:]]
            deltas = [None] + [torch.empty(K, B, u, **kw) for u in units[1:]]
            y = torch.empty(K * B, units[-1], **kw)
            buf = (x, acts, deltas, y, y.view(K, B, units[-1]))
            self._buffers[B] = buf
        return buf

    def forward_into(self, acts):
        """acts[0] holds the input; fills acts[1:] (the last with the output)."""
        L = self.layout.n_layers
        for i in range(L):
            torch.baddbmm(self.bs[i], acts[i], self.Ws[i], out=acts[i + 1])
            if i < L - 1 and self._act is not None:
                self._act(acts[i + 1])
        out = acts[L]
        oa = self.out_activation
        if oa == "softmax":
            out.copy_(torch.softmax(out, dim=2))
        elif oa == "logistic":
            out.sigmoid_()
        elif oa == "exp":
            out.exp_()
        return out

    def sample_losses(self, out, Y):
        """Per-entry loss terms whose sum over outputs is the per-sample loss
        (before the 0.5/n_outputs factor of the squared error)."""
        loss = self.loss
        if loss == "squared_error":
            d = out - Y
            return d * d
        eps = self._eps
        if loss == "log_loss":
            if self.out_activation == "logistic":  # binary / multilabel
                p = out.clamp(eps, 1 - eps)
                return -(torch.xlogy(Y, p) + torch.xlogy(1 - Y, 1 - p))
            return -torch.xlogy(Y, out.clamp(eps, 1 - eps))
        if loss == "poisson":
            return torch.xlogy(Y, Y / out) - Y + out
        raise ValueError(f"unknown loss {loss!r}")

    def step_loss_grad(self, B, w, lossc, regg, regl, acc, compute_loss=True):
        """Forward + backward on the minibatch already gathered into the
        buffers of size B. ``w``: float (uniform 1/B) or [K, B, 1] tensor of
        per-sample weights (0 for padding). Adds this step's loss (times its
        coefficient) to ``acc`` [K] and writes the gradients into ``grads``."""
        x, acts, deltas, y, Y = self.buffers(B)
        out = self.forward_into(acts)
        L = self.layout.n_layers
        delta = deltas[L]
        if compute_loss:
            if self.loss == "squared_error":
                torch.sub(out, Y, out=delta)
                if isinstance(w, float):
                    q = torch.linalg.vecdot(delta.view(self.K, -1), delta.view(self.K, -1))
                    delta.mul_(w)
                else:
                    d2 = delta * delta
                    q = torch.linalg.vecdot(d2.view(self.K, -1), w.expand_as(d2).reshape(self.K, -1))
                    delta.mul_(w)
            else:
                terms = self.sample_losses(out, Y)
                if isinstance(w, float):
                    q = terms.view(self.K, -1).sum(1)
                else:
                    q = torch.linalg.vecdot(terms.view(self.K, -1), w.expand_as(terms).reshape(self.K, -1))
                torch.sub(out, Y, out=delta)
                delta.mul_(w)
            acc.addcmul_(q, lossc)
            if regl is not None:
                acc.addcmul_(torch.linalg.vecdot(self.pc, self.pc), regl)
        else:
            torch.sub(out, Y, out=delta)
            delta.mul_(w)
        # backward
        for i in range(L - 1, -1, -1):
            torch.bmm(acts[i].transpose(1, 2), delta, out=self.gWs[i])
            torch.sum(delta, dim=1, keepdim=True, out=self.gbs[i])
            if i > 0:
                prev = deltas[i]
                torch.bmm(delta, self.WsT[i], out=prev)
                if self._dact is not None:
                    self._dact(prev, acts[i])
                delta = prev
        if regg is not None:
            self.gc.addcmul_(self.pc, regg)

    def predict(self, X, K_rows=None):
        """Full forward pass of [K, n, F] inputs (no buffers kept)."""
        a = X
        L = self.layout.n_layers
        for i in range(L):
            a = torch.baddbmm(self.bs[i], a, self.Ws[i])
            if i < L - 1 and self._act is not None:
                self._act(a)
        oa = self.out_activation
        if oa == "softmax":
            a = torch.softmax(a, dim=2)
        elif oa == "logistic":
            a = a.sigmoid_()
        elif oa == "exp":
            a = a.exp_()
        return a


# ---------------------------------------------------------------------------
# stochastic training of a stack


class _Interrupt:
    """Turns SIGINT into a flag polled at step boundaries (main thread only)."""

    def __init__(self):
        self.flag = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.getsignal(signal.SIGINT)
                if self._old is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                else:
                    self._old = None
            except (ValueError, TypeError):  # pragma: no cover - exotic embedding
                self._old = None
        return self

    def _handler(self, signum, frame):
        if self.flag:  # second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _device_str(device):
    return str(device)


def memory_per_model(layer_units, batch, n_val, dtype, solver="adam", early_stopping=False):
    """Rough bytes one model of a stack needs on the device (beyond the data)."""
    lay = _Layout(layer_units)
    item = torch.empty((), dtype=dtype).element_size()
    n_state = 2 + (2 if solver == "adam" else 1) + 1  # params, grads, opt, snapshot
    if early_stopping:
        n_state += 1
    acts = sum(layer_units) * batch * 2 * 2  # two batch sizes, acts + deltas
    val = sum(layer_units) * max(n_val, 1)
    return (n_state * lay.size + acts + val) * item


class _Stack:
    """Device state of the models currently stacked together."""


def train_runs(runs: list[ModelRun], *, layer_units, activation, out_activation, loss,
               solver, device, dtype, callbacks: CallbackList | None = None,
               fit_target=None):
    """Trains the runs (same architecture, same solver) as one stack.

    Fills each run's ``params`` (final weights), ``book`` (loss curve, ...),
    ``opt_state``, ``history``, ``stop_reason`` and ``n_iter``.
    """
    callbacks = callbacks or CallbackList()
    layout = _Layout(layer_units)
    K0 = len(runs)
    t_begin = time.perf_counter()
    dev_name = _device_str(device)
    labels = [r.label for r in runs]
    max_epochs = max(r.hyper["max_iter"] for r in runs) if not all(r.incremental for r in runs) else 1
    target = fit_target if fit_target is not None else (runs[0].est if K0 == 1 else [r.est for r in runs])
    if K0 > 1 or fit_target is not None:
        callbacks.fit_begin(model=target, n_models=K0, max_epochs=max_epochs, device=dev_name,
                            run_labels=labels)
    for r in runs:
        r.callbacks.fit_begin(model=r.est, n_models=1, max_epochs=r.hyper["max_iter"] if not r.incremental else 1,
                              device=dev_name, run_labels=[r.label])

    # ---- data on the device, once (identical datasets shared) -------------
    keys: dict = {}
    blocks_X, blocks_Y, blocks_W = [], [], []
    offsets = []
    n_rows = 0
    any_sw = any(r.sample_weight is not None for r in runs)
    for r in runs:
        key = r.data_key
        if key in keys:
            offsets.append(keys[key])
            continue
        keys[key] = n_rows
        offsets.append(n_rows)
        blocks_X.append(r.X)
        blocks_Y.append(r.Y)
        if any_sw:
            blocks_W.append(r.sample_weight if r.sample_weight is not None else np.ones(r.X.shape[0]))
        n_rows += r.X.shape[0]
    np_dtype = np.float64 if dtype == torch.float64 else np.float32

    def upload(blocks):
        if len(blocks) == 1:
            arr = np.ascontiguousarray(blocks[0], dtype=np_dtype)
        else:
            arr = np.concatenate([np.asarray(b, dtype=np_dtype) for b in blocks], axis=0)
        return torch.from_numpy(arr).to(device)

    Xd = upload(blocks_X)
    Yd = upload(blocks_Y)
    SWh = np.concatenate(blocks_W).astype(np.float64) if any_sw else None
    del blocks_X, blocks_Y

    # ---- per model, host-side schedules ------------------------------------
    for r, off in zip(runs, offsets):
        r._off = off
        r._rows = (r.train_rows + off).astype(np.int64)
        r._n = len(r.train_rows)
        r._bs = r.batch_size
        r._nb = -(-r._n // r._bs)
        r._sample_idx = np.arange(r._n, dtype=np.int64)
        h = r.hyper
        st = r.opt_state
        if st is None:
            st = {"lr": float(h["learning_rate_init"]), "t": 0}
            r.opt_state = st
        r._done = False
        r._epochs_run = 0
        if r.val_rows is not None:
            r._val_global = (r.val_rows + off).astype(np.int64)

    active = list(range(K0))
    in_steps = False
    net = None
    stop_all = None
    interrupted = False

    def build(idx_models, rows_params, rows_state, rows_best):
        """(Re)builds the device stack for the given models."""
        K = len(idx_models)
        net = StackNet(layout, K, activation, out_activation, loss, device, dtype)
        net.params.copy_(rows_params)
        st = {}
        if solver == "adam":
            st["m"] = rows_state[0]
            st["v"] = rows_state[1]
        else:
            st["vel"] = rows_state[0]
        net.opt = st
        net.snapshot = net.params.clone()
        net.best = rows_best
        net.models = list(idx_models)
        # validation data, padded to the longest validation set
        vm = [runs[k] for k in idx_models]
        has_val = any(r.val_rows is not None for r in vm)
        net.has_val = has_val
        if has_val:
            V = max(len(r.val_rows) if r.val_rows is not None else 1 for r in vm)
            vidx = np.zeros((K, V), dtype=np.int64)
            vmask = np.zeros((K, V), dtype=np.float64)
            for j, r in enumerate(vm):
                if r.val_rows is not None:
                    n = len(r._val_global)
                    vidx[j, :n] = r._val_global
                    vidx[j, n:] = r._val_global[0]
                    if SWh is not None:
                        vmask[j, :n] = SWh[r._val_global]
                    else:
                        vmask[j, :n] = 1.0
                else:
                    vidx[j, :] = r._off
            net.vidx = torch.from_numpy(vidx.reshape(-1)).to(device)
            net.vmask = torch.from_numpy(vmask).to(device=device, dtype=dtype)
            net.V = V
        net.acc = torch.zeros(K, device=device, dtype=dtype)
        return net

    def initial_rows():
        P = torch.from_numpy(np.stack([np.asarray(r.params, dtype=np_dtype) for r in runs])).to(device)
        states = []
        names = ("m", "v") if solver == "adam" else ("vel",)
        for name in names:
            rows = []
            for r in runs:
                v = r.opt_state.get(name)
                rows.append(torch.zeros(layout.size, dtype=dtype, device=device) if v is None
                            else torch.as_tensor(v, dtype=dtype, device=device))
            states.append(torch.stack(rows))
        best = None
        if any(r.val_rows is not None for r in runs):
            best = torch.from_numpy(np.stack([
                np.asarray(r.best_params if r.best_params is not None else r.params, dtype=np_dtype)
                for r in runs])).to(device)
        return P, states, best

    P0, S0, B0 = initial_rows()
    net = build(active, P0, S0, B0)
    del P0, S0, B0
    # final per-model results are parked here when a model leaves the stack
    final_params: dict[int, torch.Tensor] = {}
    final_state: dict[int, list] = {}
    final_best: dict[int, torch.Tensor] = {}

    def park(j_local, k):
        final_params[k] = net.params[j_local].clone()
        if solver == "adam":
            final_state[k] = [net.opt["m"][j_local].clone(), net.opt["v"][j_local].clone()]
        else:
            final_state[k] = [net.opt["vel"][j_local].clone()]
        if net.best is not None:
            final_best[k] = net.best[j_local].clone()

    def compact():
        nonlocal net
        keep = [j for j, k in enumerate(net.models) if not runs[k]._done]
        for j, k in enumerate(net.models):
            if runs[k]._done and k not in final_params:
                park(j, k)
        if not keep:
            return
        if len(keep) == len(net.models):
            return
        ki = torch.tensor(keep, device=device)
        P = net.params.index_select(0, ki)
        if solver == "adam":
            S = [net.opt["m"].index_select(0, ki), net.opt["v"].index_select(0, ki)]
        else:
            S = [net.opt["vel"].index_select(0, ki)]
        B = net.best.index_select(0, ki) if net.best is not None else None
        models = [net.models[j] for j in keep]
        net = build(models, P, S, B)

    with _Interrupt() as intr:
        try:
            epoch_global = 0
            while True:
                models = net.models
                K = len(models)
                mr = [runs[k] for k in models]
                # ---- schedule of this epoch (host) -------------------------
                was_done = [r._done for r in mr]
                S = max(r._nb for r in mr if not r._done)
                counts = np.zeros((S, K), dtype=np.int64)
                for j, r in enumerate(mr):
                    if r._done:
                        continue
                    c = np.full(r._nb, r._bs, dtype=np.int64)
                    c[-1] = r._n - r._bs * (r._nb - 1)
                    counts[: r._nb, j] = c
                Bs = counts.max(axis=1)
                uniform = (not any_sw) and bool(np.all(counts == Bs[:, None]))
                seg = np.concatenate([[0], np.cumsum(Bs * K)])
                idx = np.empty(int(seg[-1]), dtype=np.int64)
                wts = np.zeros(int(seg[-1]), dtype=np.float64) if not uniform else None
                swsum = np.ones((S, K))
                for j, r in enumerate(mr):
                    if r._done:
                        for s in range(S):
                            b0 = seg[s] + j * Bs[s]
                            idx[b0: b0 + Bs[s]] = r._rows[0]
                        continue
                    if r.hyper["shuffle"]:
                        r.rng.shuffle(r._sample_idx)
                    order = r._rows[r._sample_idx]
                    pos = 0
                    for s in range(r._nb):
                        c = counts[s, j]
                        b0 = seg[s] + j * Bs[s]
                        idx[b0: b0 + c] = order[pos: pos + c]
                        idx[b0 + c: b0 + Bs[s]] = order[pos]
                        if wts is not None:
                            if SWh is not None:
                                sw = SWh[order[pos: pos + c]]
                                tot = sw.sum()
                                swsum[s, j] = tot
                                wts[b0: b0 + c] = sw / tot if tot != 0 else 0.0
                            else:
                                swsum[s, j] = c
                                wts[b0: b0 + c] = 1.0 / c
                        else:
                            swsum[s, j] = c
                        pos += c
                    for s in range(r._nb, S):
                        b0 = seg[s] + j * Bs[s]
                        idx[b0: b0 + Bs[s]] = r._rows[0]
                # coefficient table [S, NCOEF, K]
                coef = np.zeros((S, _NCOEF, K), dtype=np.float64)
                act = counts > 0
                any_reg = False
                n_out = layout.units[-1]
                for j, r in enumerate(mr):
                    h = r.hyper
                    a = act[:, j].astype(np.float64)
                    alpha = float(h["alpha"])
                    if alpha != 0.0:
                        any_reg = True
                    with np.errstate(divide="ignore", invalid="ignore"):
                        coef[:, _C_REGG, j] = np.where(act[:, j], alpha / swsum[:, j], 0.0)
                        nb = counts[:, j].astype(np.float64)
                        coef[:, _C_REGL, j] = np.where(act[:, j], 0.5 * alpha * nb / swsum[:, j], 0.0)
                    lf = 0.5 / n_out if loss == "squared_error" else 1.0
                    coef[:, _C_LOSS, j] = a * lf * (1.0 if uniform else counts[:, j])
                    st = r.opt_state
                    if solver == "adam":
                        b1, b2 = float(h["beta_1"]), float(h["beta_2"])
                        t = st["t"] + np.cumsum(act[:, j])
                        lr_t = float(h["learning_rate_init"]) * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                        coef[:, _C_A, j] = a * (1 - b1)
                        coef[:, _C_B, j] = a * (1 - b2)
                        coef[:, _C_EPS, j] = float(h["epsilon"])
                        coef[:, _C_LR, j] = -lr_t * a
                    else:
                        mom = float(h["momentum"])
                        lr = st["lr"]
                        coef[:, _C_A, j] = np.where(act[:, j], mom, 1.0)
                        coef[:, _C_LR, j] = -lr * a
                        if h["nesterovs_momentum"]:
                            coef[:, _C_PV, j] = mom * a
                            coef[:, _C_PG, j] = -lr * a
                        else:
                            coef[:, _C_PV, j] = a
                            coef[:, _C_PG, j] = 0.0
                coef_d = torch.from_numpy(coef).to(device=device, dtype=dtype)
                idx_d = torch.from_numpy(idx).to(device)
                w_d = torch.from_numpy(wts).to(device=device, dtype=dtype) if wts is not None else None
                cols = coef_d.unsqueeze(-1)  # [S, C, K, 1]
                acc = net.acc
                acc.zero_()
                params, grads = net.params, net.grads
                opt = net.opt
                t0 = time.perf_counter()
                in_steps = True
                # ---- the steps ---------------------------------------------
                for s in range(S):
                    if intr.flag:
                        raise KeyboardInterrupt
                    B = int(Bs[s])
                    x, acts, deltas, ybuf, Y = net.buffers(B)
                    ii = idx_d[seg[s]: seg[s + 1]]
                    torch.index_select(Xd, 0, ii, out=x)
                    torch.index_select(Yd, 0, ii, out=ybuf)
                    cs = cols[s]
                    if uniform:
                        w = 1.0 / B
                    else:
                        w = w_d[seg[s]: seg[s + 1]].view(K, B, 1)
                    net.step_loss_grad(B, w, coef_d[s, _C_LOSS], cs[_C_REGG] if any_reg else None,
                                       coef_d[s, _C_REGL] if any_reg else None, acc)
                    if solver == "adam":
                        m, v = opt["m"], opt["v"]
                        m.lerp_(grads, cs[_C_A])
                        v.lerp_(grads * grads, cs[_C_B])
                        den = torch.sqrt(v)
                        den.add_(cs[_C_EPS])
                        torch.div(m, den, out=den)
                        params.addcmul_(den, cs[_C_LR])
                    else:
                        vel = opt["vel"]
                        vel.mul_(cs[_C_A])
                        vel.addcmul_(grads, cs[_C_LR])
                        params.addcmul_(vel, cs[_C_PV])
                        if solver == "sgd":
                            params.addcmul_(grads, cs[_C_PG])
                # ---- end of epoch: one sync ---------------------------------
                parts = [acc, params.sum(dim=1)]
                if net.has_val:
                    vx = Xd.index_select(0, net.vidx).view(K, net.V, -1)
                    pv = net.predict(vx)
                    vy = Yd.index_select(0, net.vidx).view(K, net.V, -1)
                    fin = torch.isfinite(pv).all(dim=2).all(dim=1).to(dtype)
                    if out_activation in ("softmax", "logistic"):
                        if out_activation == "softmax":
                            pred = torch.nn.functional.one_hot(pv.argmax(dim=2), pv.shape[2]).to(dtype)
                        else:
                            pred = (pv > 0.5).to(dtype)
                        ok = (pred == vy).all(dim=2).to(dtype)
                        parts += [(ok * net.vmask).sum(dim=1), fin]
                    else:
                        d = (pv - vy) ** 2
                        ssr = (d * net.vmask.unsqueeze(2)).sum(dim=1)  # [K, O]
                        parts += [ssr.reshape(-1), fin]
                host = torch.cat([p.reshape(-1).to(torch.float64) for p in parts]).cpu().numpy()
                t1 = time.perf_counter()
                epoch_time = t1 - t0
                elapsed = t1 - t_begin
                epoch_global += 1
                loss_sums = host[:K]
                psums = host[K: 2 * K]
                pos = 2 * K
                if net.has_val:
                    if out_activation in ("softmax", "logistic"):
                        vstat = host[pos: pos + K]
                        pos += K
                    else:
                        vstat = host[pos: pos + K * n_out].reshape(K, n_out)
                        pos += K * n_out
                    vfin = host[pos: pos + K]
                # ---- per model bookkeeping (sklearn's rules) ----------------
                improved_best = []
                good_rows = []
                bad_rows = []
                stop_requested_batch = False
                in_steps = False
                for j, k in enumerate(models):
                    r = runs[k]
                    if was_done[j]:
                        continue
                    h = r.hyper
                    book = r.book
                    loss_k = float(loss_sums[j] / r._n)
                    if not (math.isfinite(loss_k) and math.isfinite(psums[j])):
                        bad_rows.append(j)
                        r._done = True
                        r.stop_reason = "diverged"
                        r.warned.append(
                            f"Training diverged at epoch {book['n_iter_total'] + 1}: the training loss "
                            f"became non-finite ({loss_k}). The model keeps the weights of the last "
                            f"finite epoch. Use a smaller learning_rate_init (got "
                            f"{h['learning_rate_init']:g}; the default is 0.001).")
                        continue
                    good_rows.append(j)
                    r._epochs_run += 1
                    r.n_iter += 1
                    book["n_iter_total"] += 1
                    st = r.opt_state
                    if solver == "adam":
                        st["t"] += r._nb
                    book["t_"] += r._n
                    book["loss_"] = loss_k
                    book["loss_curve_"].append(loss_k)
                    if h["verbose"]:
                        print("Iteration %d, loss = %.8f" % (r.n_iter, loss_k))
                    val_score = None
                    if r.val_rows is not None:
                        if not vfin[j]:
                            val_score = float("nan")
                        elif out_activation in ("softmax", "logistic"):
                            tot = (SWh[r._val_global].sum() if SWh is not None else len(r.val_rows))
                            val_score = float(vstat[j] / tot)
                        else:
                            val_score = _r2_from_ssr(vstat[j], r._val_sst)
                        book["validation_scores_"].append(val_score)
                        if h["verbose"]:
                            print("Validation score: %f" % val_score)
                        if val_score < book["best_validation_score_"] + h["tol"]:
                            book["_no_improvement_count"] += 1
                        else:
                            book["_no_improvement_count"] = 0
                        if val_score > book["best_validation_score_"]:
                            book["best_validation_score_"] = val_score
                            improved_best.append(j)
                    else:
                        if loss_k > book["best_loss_"] - h["tol"]:
                            book["_no_improvement_count"] += 1
                        else:
                            book["_no_improvement_count"] = 0
                        if loss_k < book["best_loss_"]:
                            book["best_loss_"] = loss_k
                    # learning-rate schedule at iteration end
                    if solver == "sgd" and h["learning_rate"] == "invscaling":
                        st["lr"] = float(h["learning_rate_init"]) / (book["t_"] + 1) ** h["power_t"]
                    if book["_no_improvement_count"] > h["n_iter_no_change"]:
                        if solver == "sgd" and h["learning_rate"] == "adaptive":
                            if st["lr"] <= 1e-6:
                                stopping = True
                            else:
                                st["lr"] /= 5.0
                                stopping = False
                                if h["verbose"]:
                                    print(_no_improve_msg(r) + " Setting learning rate to %f" % st["lr"])
                        else:
                            stopping = True
                        if stopping:
                            if h["verbose"]:
                                print(_no_improve_msg(r) + " Stopping.")
                            r._done = True
                            r.stop_reason = "early_stopping" if r.val_rows is not None else "converged"
                        else:
                            book["_no_improvement_count"] = 0
                    if not r._done and (r.incremental or r.n_iter >= h["max_iter"]):
                        r._done = True
                        r.stop_reason = "max_iter"
                        if not r.incremental:
                            r.warned.append(
                                "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                                "optimization hasn't converged yet." % h["max_iter"])
                    rec = {
                        "epoch": book["n_iter_total"],
                        "loss": loss_k,
                        "val_loss": None,
                        "val_score": val_score,
                        "elapsed": elapsed,
                        "epoch_time": epoch_time,
                        "samples_per_s": (r._n / epoch_time) if epoch_time > 0 else float("inf"),
                        "device": dev_name,
                        "lr": _current_lr(r, solver),
                    }
                    r.history.append(rec)
                    if r.callbacks.callbacks:
                        if r.callbacks.epoch_end(run=0, record=rec, model=r.est):
                            if not r._done:
                                r._done = True
                                r.stop_reason = "stopped"
                    if callbacks.callbacks:
                        if callbacks.epoch_end(run=k, record=rec, model=r.est):
                            stop_requested_batch = True
                # ---- device-side follow-up ----------------------------------
                if bad_rows:
                    bi = torch.tensor(bad_rows, device=device)
                    net.params.index_copy_(0, bi, net.snapshot.index_select(0, bi))
                    for tsr in net.opt.values():
                        tsr.index_fill_(0, bi, 0.0)
                if good_rows:
                    if len(good_rows) == K:
                        net.snapshot.copy_(net.params)
                    else:
                        gi = torch.tensor(good_rows, device=device)
                        net.snapshot.index_copy_(0, gi, net.params.index_select(0, gi))
                if improved_best:
                    ii_ = torch.tensor(improved_best, device=device)
                    net.best.index_copy_(0, ii_, net.params.index_select(0, ii_))
                if stop_requested_batch:
                    for k in models:
                        if not runs[k]._done:
                            runs[k]._done = True
                            runs[k].stop_reason = "stopped"
                n_done = sum(runs[k]._done for k in models)
                if n_done == K:
                    compact()
                    break
                if n_done and (bad_rows or n_done * 4 >= K):
                    compact()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            pass

    if interrupted:
        # stop at a step boundary: the interrupted epoch is discarded, the
        # weights of the last completed epoch are kept
        for j, k in enumerate(net.models):
            r = runs[k]
            if not r._done:
                r._done = True
                r.stop_reason = "interrupted"
        if in_steps:
            net.params.copy_(net.snapshot)
        for j, k in enumerate(net.models):
            if k not in final_params:
                park(j, k)
        warnings.warn(
            "Training interrupted by user (KeyboardInterrupt): stopped at a step boundary; "
            "the model keeps the weights of the last completed epoch and its history.",
            UserWarning, stacklevel=3)

    # ---- results back to the runs --------------------------------------------
    for k, r in enumerate(runs):
        p = final_params[k]
        if r.val_rows is not None and k in final_best:
            r.best_params = final_best[k].to(torch.float64).cpu().numpy() if dtype == torch.float64 \
                else final_best[k].cpu().numpy()
        r.params = p.cpu().numpy()
        r.opt_state = dict(r.opt_state)
        names = ("m", "v") if solver == "adam" else ("vel",)
        for name, tsr in zip(names, final_state[k]):
            r.opt_state[name] = tsr
    for r in runs:
        r.callbacks.fit_end(model=r.est, history=r.history, stop_reason=r.stop_reason)
    if K0 > 1 or fit_target is not None:
        callbacks.fit_end(model=target, history=[r.history for r in runs],
                          stop_reason=_overall_reason(runs), stop_reasons=[r.stop_reason for r in runs])
    return runs


def _overall_reason(runs):
    reasons = [r.stop_reason for r in runs]
    for special in ("interrupted", "stopped", "diverged"):
        if special in reasons:
            return special
    return reasons[0] if len(set(reasons)) == 1 else "max_iter" if "max_iter" in reasons else reasons[0]


def _no_improve_msg(r):
    h = r.hyper
    if r.val_rows is not None:
        return ("Validation score did not improve more than tol=%f for %d consecutive epochs."
                % (h["tol"], h["n_iter_no_change"]))
    return ("Training loss did not improve more than tol=%f for %d consecutive epochs."
            % (h["tol"], h["n_iter_no_change"]))


def _current_lr(r, solver):
    st = r.opt_state
    h = r.hyper
    if solver == "adam":
        t = max(st["t"], 1)
        b1, b2 = h["beta_1"], h["beta_2"]
        return float(h["learning_rate_init"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t))
    return float(st["lr"])


def _r2_from_ssr(ssr, sst):
    """sklearn's r2_score (uniform average, force_finite) from per-output sums."""
    scores = []
    for res, tot in zip(ssr, sst):
        if tot != 0:
            scores.append(1.0 - res / tot)
        else:
            scores.append(1.0 if res == 0 else 0.0)
    return float(np.mean(scores))
