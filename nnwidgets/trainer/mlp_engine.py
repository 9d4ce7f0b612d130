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
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nnwidgets.trainer.device import is_cpu
from nnwidgets.trainer.events import CallbackList, History

# an epoch loss this many times the loss of the untrained network (and above this many
# times 1.0, so that near-perfect fits never trip it) counts as divergence
DIVERGENCE_FACTOR = 1e6

# torch's fused Adam kernel (one pass over the parameters) serves K == 1
_FUSED_ADAM = hasattr(torch, "_fused_adam_")

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
    val_score: str | None  # "r2" | "accuracy" | "one_class" (a classifier of one class: accuracy 1) | None
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
    parts = list(coefs) + list(intercepts)
    out = np.empty(sum(np.size(c) for c in parts), dtype=dtype)
    pos = 0
    for c in parts:
        n = np.size(c)
        out[pos: pos + n] = np.ravel(c)
        pos += n
    return out


def _rowdot(a, b):
    """Row-wise dot products of two [K, n] tensors -> [K] (BLAS dot, fast)."""
    if a.shape[0] == 1:
        return torch.dot(a.reshape(-1), b.reshape(-1)).reshape(1)
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).reshape(-1)


def _pairsum(a, b):
    """Per-model sums of a * b over all axes but the first -> [K]; a BLAS dot
    when both share a dense layout (plain, or the transposed output layer's)."""
    K = a.shape[0]
    pairs = [(a, b)]
    if a.dim() == 3:
        pairs.append((a.transpose(1, 2), b.transpose(1, 2)))
    for x, y in pairs:
        if x.is_contiguous() and y.is_contiguous():
            if K == 1:
                return torch.dot(x.reshape(-1), y.reshape(-1)).reshape(1)
            return _rowdot(x.reshape(K, -1), y.reshape(K, -1))
    return torch.mul(a, b).sum(dim=tuple(range(1, a.dim())))


def _rowsq(a):
    """Row-wise squared norms of a [K, n] tensor -> [K]: one pass, no
    temporary (a bmm of [K, 1, n] x [K, n, 1] is six times slower on CPUs)."""
    if a.shape[0] == 1:
        flat = a.reshape(-1)
        return torch.dot(flat, flat).reshape(1)
    return torch.linalg.vector_norm(a, dim=1).square_()


def _softmax_(z):
    """In-place softmax over the last axis, as scikit-learn computes it (max
    subtracted, exp, normalised); faster than torch.softmax for the few
    classes of an MLP's output layer."""
    z.sub_(z.amax(dim=-1, keepdim=True))
    z.exp_()
    z.div_(z.sum(dim=-1, keepdim=True))
    return z


def _hidden_forward(name):
    if name == "relu":
        return torch.Tensor.relu_
    if name == "tanh":
        return torch.Tensor.tanh_
    if name == "logistic":
        return torch.Tensor.sigmoid_
    return None  # identity


def _hidden_backward(name):
    """(delta, activation[, out]) -> delta * f'(z), computed from the
    activation f(z), written to ``out`` (a buffer other than ``delta``: an
    aliased output costs these kernels an extra copy) or else to ``delta``."""
    if name == "relu":
        return lambda d, a, out=None: torch.ops.aten.threshold_backward.grad_input(
            d, a, 0, grad_input=d if out is None else out)
    if name == "tanh":
        return lambda d, a, out=None: torch.ops.aten.tanh_backward.grad_input(
            d, a, grad_input=d if out is None else out)
    if name == "logistic":
        return lambda d, a, out=None: torch.ops.aten.sigmoid_backward.grad_input(
            d, a, grad_input=d if out is None else out)
    return None


class StackNet:
    """K stacked MLPs on one device: parameters, buffers and the hand-written
    forward/backward pass. Shared by the stochastic solvers and L-BFGS."""

    def __init__(self, layout: _Layout, K: int, activation: str, out_activation: str,
                 loss: str, device, dtype, params=None, matmul_dtype=None):
        self.layout = layout
        self.K = K
        self.device = device
        self.dtype = dtype
        self.activation = activation
        self.out_activation = out_activation
        self.loss = loss
        if params is None or not params.is_contiguous():
            self.params = torch.empty(K, layout.size, device=device, dtype=dtype)
            if params is not None:
                self.params.copy_(params)
        else:
            self.params = params  # taken over, not copied
        self.grads = torch.empty_like(self.params)  # every entry is written by each step
        self.Ws, self.bs = layout.views(self.params)
        self.gWs, self.gbs = layout.views(self.grads)
        self.WsT = [W.transpose(1, 2) for W in self.Ws]
        self.pc = self.params[:, : layout.n_coef]
        self.gc = self.grads[:, : layout.n_coef]
        self.pc_flat = self.pc.reshape(-1) if K == 1 else None
        self._act = _hidden_forward(activation)
        self._dact = _hidden_backward(activation)
        self._buffers: dict[int, tuple] = {}
        self._buffers2d: dict[int, tuple] = {}
        self._raws: dict[int, list] = {}
        self.n_out = layout.units[-1]
        # Mixed precision (matmul_dtype=torch.bfloat16): the matrix products
        # run on bfloat16 copies of the weights, activations and deltas (with
        # float32 accumulation inside the GEMM); the master weights, gradients,
        # optimiser state, output layer, loss and L2 penalty stay in ``dtype``.
        self.mixed = matmul_dtype is not None and matmul_dtype != dtype
        self.mm_dtype = matmul_dtype if self.mixed else dtype
        if self.mixed:
            # one contiguous tensor per layer (bfloat16 batched matmuls copy
            # operands whose batch stride is not rows x columns)
            mk = dict(device=device, dtype=matmul_dtype)
            self.Wm = [torch.empty(K, i, o, **mk) for (_s, _e, i, o) in layout.coef]
            self.bm = [torch.empty(K, 1, e - s, **mk) for (s, e) in layout.bias]
            self.WmT = [W.transpose(1, 2) for W in self.Wm]
            self.gWm = [torch.empty(K, i, o, **mk) for (_s, _e, i, o) in layout.coef]
            self.gbm = [torch.empty(K, 1, e - s, **mk) for (s, e) in layout.bias]
            self._mixed_buffers: dict[int, tuple] = {}
        # K == 1: plain 2-D matmuls (addmm / mm) are faster than batched ones
        self.flat2d = K == 1 and not self.mixed
        # A narrow output layer (few classes/targets) is computed transposed,
        # out^T = W^T a^T, into [K, n_out, B] storage: float32/64 BLAS GEMMs
        # with a handful of output columns are 3-5x slower than with a
        # handful of rows. acts[L] and deltas[L] are [K, B, n_out] views of it.
        self.narrow = (not self.mixed) and layout.units[-1] <= 16
        self._outT: dict[int, tuple] = {}
        if self.flat2d:
            self.W2 = [W[0] for W in self.Ws]
            self.W2T = [W[0].t() for W in self.Ws]
            self.b2 = [b[0] for b in self.bs]
            self.gW2 = [g[0] for g in self.gWs]
            self.gb2 = [g[0] for g in self.gbs]
        self._eps = float(torch.finfo(dtype).eps)

    # buffers per minibatch size B, reused every step (no allocation in the loop)
    def buffers(self, B):
        buf = self._buffers.get(B)
        if buf is None:
            K, units = self.K, self.layout.units
            kw = dict(device=self.device, dtype=self.dtype)
            mkw = dict(device=self.device, dtype=self.mm_dtype)  # matmul operands
            x = torch.empty(K * B, units[0], **mkw)
            if self.narrow:
                outT = torch.empty(K, units[-1], B, **kw)
                dT = torch.empty(K, units[-1], B, **kw)
                gT = torch.empty(K, units[-1], units[-2], **kw)
                self._outT[B] = (outT, dT, gT)
                out, dout = outT.transpose(1, 2), dT.transpose(1, 2)
            else:
                out, dout = torch.empty(K, B, units[-1], **kw), torch.empty(K, B, units[-1], **kw)
            acts = [x.view(K, B, units[0])] + [torch.empty(K, B, u, **mkw) for u in units[1:-1]] + [out]
            deltas = [None] + [torch.empty(K, B, u, **mkw) for u in units[1:-1]] + [dout]
            # back-propagated deltas before the activation's derivative
            self._raws[B] = [None] + [torch.empty(K, B, u, **mkw) for u in units[1:-1]]
            if self.mixed:  # the output layer's product and delta, as matmul operands
                self._mixed_buffers[B] = (torch.empty(K, B, units[-1], **mkw),
                                          torch.empty(K, B, units[-1], **mkw))
            y = torch.empty(K * B, units[-1], **kw)
            buf = (x, acts, deltas, y, y.view(K, B, units[-1]))
            if K == 1:
                self._buffers2d[B] = ([a[0] for a in acts], [None] + [d[0] for d in deltas[1:]],
                                      [a[0].t() for a in acts])
            self._buffers[B] = buf
        return buf

    def forward_into(self, acts, acts2=None):
        """acts[0] holds the input; fills acts[1:] (the last with the output)."""
        L = self.layout.n_layers
        narrow = self._outT.get(acts[L].shape[1]) if self.narrow else None
        if acts2 is not None:
            for i in range(L):
                if i == L - 1 and narrow is not None:
                    torch.addmm(self.b2[i].t(), self.W2T[i], acts2[i].t(), out=narrow[0][0])
                    break
                torch.addmm(self.b2[i], acts2[i], self.W2[i], out=acts2[i + 1])
                if i < L - 1 and self._act is not None:
                    self._act(acts2[i + 1])
        elif self.mixed:
            out_m = self._mixed_buffers[acts[L].shape[1]][0]
            for i in range(L):
                dst = acts[i + 1] if i < L - 1 else out_m
                torch.baddbmm(self.bm[i], acts[i], self.Wm[i], out=dst)
                if i < L - 1 and self._act is not None:
                    self._act(dst)
            acts[L].copy_(out_m)
        else:
            for i in range(L):
                if i == L - 1 and narrow is not None:
                    torch.baddbmm(self.bs[i].transpose(1, 2), self.WsT[i], acts[i].transpose(1, 2),
                                  out=narrow[0])
                    break
                torch.baddbmm(self.bs[i], acts[i], self.Ws[i], out=acts[i + 1])
                if i < L - 1 and self._act is not None:
                    self._act(acts[i + 1])
        out = acts[L]
        oa = self.out_activation
        if oa == "softmax":
            _softmax_(out)
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
        raws = self._raws[B]
        two = self._buffers2d.get(B) if self.flat2d else None
        if self.mixed:  # this step's weights, as matmul operands
            for W, Wm in zip(self.Ws, self.Wm):
                Wm.copy_(W)
            for b, bm in zip(self.bs, self.bm):
                bm.copy_(b)
        out = self.forward_into(acts, two[0] if two is not None else None)
        L = self.layout.n_layers
        delta = deltas[L]
        if compute_loss:
            if self.loss == "squared_error":
                torch.sub(out, Y, out=delta)
                if isinstance(w, float):
                    q = _pairsum(delta, delta)
                    delta.mul_(w)
                else:
                    q = _pairsum(delta * w, delta)
                    delta.mul_(w)
            elif self.loss == "log_loss" and self.out_activation == "softmax":
                # -sum(Y * log(clip(p))): one clamp, an in-place log and a dot
                lp = out.clamp(self._eps, 1 - self._eps)
                lp.log_()
                if not isinstance(w, float):
                    lp.mul_(w)
                q = _pairsum(Y, lp)
                q.neg_()
                torch.sub(out, Y, out=delta)
                delta.mul_(w)
            else:
                terms = self.sample_losses(out, Y)
                if isinstance(w, float):
                    q = terms.sum(dim=(1, 2))
                else:
                    q = (terms * w).sum(dim=(1, 2))
                torch.sub(out, Y, out=delta)
                delta.mul_(w)
            acc.addcmul_(q, lossc)
            if regl is not None:
                if self.K == 1:
                    acc.addcmul_(torch.dot(self.pc_flat, self.pc_flat).view(1), regl)
                else:
                    acc.addcmul_(_rowsq(self.pc), regl)
        else:
            torch.sub(out, Y, out=delta)
            delta.mul_(w)
        # backward
        narrow = self._outT.get(B) if self.narrow else None
        if two is not None:
            acts2, deltas2, actsT2 = two
            d2 = delta[0]
            for i in range(L - 1, -1, -1):
                if i == L - 1 and narrow is not None:  # gW^T = delta^T a
                    gT = narrow[2][0]
                    torch.mm(narrow[1][0], acts2[i], out=gT)
                    self.gW2[i].copy_(gT.t())
                else:
                    torch.mm(actsT2[i], d2, out=self.gW2[i])
                torch.sum(d2, dim=0, keepdim=True, out=self.gb2[i])
                if i > 0:
                    d2 = self._back_through(torch.mm, d2, self.W2T[i], raws[i][0], acts2[i], deltas2[i])
        elif self.mixed:
            torch.sum(delta, dim=1, keepdim=True, out=self.gbs[L - 1])
            d = self._mixed_buffers[B][1]
            d.copy_(delta)
            for i in range(L - 1, -1, -1):
                torch.bmm(acts[i].transpose(1, 2), d, out=self.gWm[i])
                if i < L - 1:  # summed with float32 accumulation, rounded once
                    torch.sum(d, dim=1, keepdim=True, out=self.gbm[i])
                    self.gbs[i].copy_(self.gbm[i])
                if i > 0:
                    d = self._back_through(torch.bmm, d, self.WmT[i], raws[i], acts[i], deltas[i])
            for g, gm in zip(self.gWs, self.gWm):
                g.copy_(gm)
        else:
            for i in range(L - 1, -1, -1):
                if i == L - 1 and narrow is not None:  # gW^T = delta^T a
                    gT = narrow[2]
                    torch.bmm(narrow[1], acts[i], out=gT)
                    self.gWs[i].copy_(gT.transpose(1, 2))
                else:
                    torch.bmm(acts[i].transpose(1, 2), delta, out=self.gWs[i])
                torch.sum(delta, dim=1, keepdim=True, out=self.gbs[i])
                if i > 0:
                    delta = self._back_through(torch.bmm, delta, self.WsT[i], raws[i], acts[i], deltas[i])
        if regg is not None:
            self.gc.addcmul_(self.pc, regg)

    def _back_through(self, matmul, d, WT, raw, act, out):
        """The delta of the layer below: ``out = (d @ WT) * f'(z)``, with f'
        computed from the activation ``act``; the product goes to ``raw``
        first (an activation backward written in place costs a copy)."""
        if self._dact is None:
            return matmul(d, WT, out=out)
        matmul(d, WT, out=raw)
        self._dact(raw, act, out)
        return out

    def predict(self, X):
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
    """As train_module and the search view record it: "cpu", "cuda:0"."""
    from nnwidgets.trainer.device import device_name

    return device_name(torch.device(device))


class _Schedule:
    """Per-epoch minibatch layout of the models in a stack: which rows each
    model reads at each step (padded to the step's largest batch), and the
    per-step, per-model coefficients. Built when the stack changes; each
    epoch only reshuffles and refreshes the learning-rate columns."""

    def __init__(self, net, mr, any_sw, SWh, layout, loss, solver, device, dtype):
        self.net = net
        self.stale = False
        self.mr = mr
        self.solver = solver
        self.SWh = SWh
        K = len(mr)
        live = [j for j, r in enumerate(mr) if not r._done]
        self.live = live
        S = max(mr[j]._nb for j in live)
        counts = np.zeros((S, K), dtype=np.int64)
        for j in live:
            r = mr[j]
            c = np.full(r._nb, r._bs, dtype=np.int64)
            c[-1] = r._n - r._bs * (r._nb - 1)
            counts[: r._nb, j] = c
        Bs = counts.max(axis=1)
        self.S, self.counts, self.Bs = S, counts, Bs
        uniform = (not any_sw) and bool(np.all(counts == Bs[:, None]))
        self.uniform = uniform
        seg = np.concatenate([[0], np.cumsum(Bs * K)]).astype(np.int64)
        self.seg = seg
        total = int(seg[-1])
        idx = np.empty(total, dtype=np.int64)
        self.dst = {}
        for j, r in enumerate(mr):
            pad = r._rows[0]
            if j not in live:
                for s in range(S):
                    b0 = seg[s] + j * Bs[s]
                    idx[b0: b0 + Bs[s]] = pad
                continue
            parts = []
            for s in range(S):
                b0 = seg[s] + j * Bs[s]
                c = counts[s, j]
                parts.append(np.arange(b0, b0 + c))
                idx[b0 + c: b0 + Bs[s]] = pad
            self.dst[j] = np.concatenate(parts)
        self.idx = idx
        self.idx_d = torch.empty(total, dtype=torch.int64, device=device)
        self.w = None if uniform else np.zeros(total, dtype=np.float64)
        self.w_d = None if uniform else torch.empty(total, dtype=dtype, device=device)
        # batch sums of sample weights (or counts), [S, K]
        self.swsum = np.where(counts > 0, counts, 1).astype(np.float64)
        act = counts > 0
        self.act = act
        a = act.astype(np.float64)
        hy = [r.hyper for r in mr]
        alpha = np.array([h["alpha"] for h in hy], dtype=np.float64)
        self.alpha = alpha
        self.any_reg = bool(np.any(alpha[live] != 0))
        n_out = layout.units[-1]
        lf = 0.5 / n_out if loss == "squared_error" else 1.0
        coef = np.zeros((S, _NCOEF, K), dtype=np.float64)
        coef[:, _C_LOSS, :] = a * lf * (1.0 if uniform else counts)
        if solver == "adam":
            b1 = np.array([h["beta_1"] for h in hy], dtype=np.float64)
            b2 = np.array([h["beta_2"] for h in hy], dtype=np.float64)
            self.b1, self.b2 = b1, b2
            self.lr_init = np.array([h["learning_rate_init"] for h in hy], dtype=np.float64)
            coef[:, _C_A, :] = a * (1 - b1)
            coef[:, _C_B, :] = a * (1 - b2)
            coef[:, _C_EPS, :] = np.array([h["epsilon"] for h in hy], dtype=np.float64)
            self.g2 = torch.empty_like(net.params)
            self.steps_t = torch.zeros((), dtype=torch.float32, device=device)
        else:
            mom = np.array([h["momentum"] for h in hy], dtype=np.float64)
            self.nesterov = np.array([bool(h["nesterovs_momentum"]) for h in hy])
            self.any_nesterov = bool(self.nesterov.any())
            self.mom = mom
            coef[:, _C_A, :] = np.where(act, mom, 1.0)
            coef[:, _C_PV, :] = np.where(self.nesterov, mom, 1.0) * a
        self.coef = coef
        self._set_reg()
        self.cum_act = np.cumsum(act, axis=0).astype(np.float64)
        self.fused = solver == "adam" and K == 1 and _FUSED_ADAM
        # K > 1: models with the same Adam constants and step count share one
        # fused-Adam call per step (lists of their rows), instead of 7 masked ops
        self.adam_groups = None
        if solver == "adam" and K > 1 and _FUSED_ADAM:
            groups: dict = {}
            for j in live:
                r = mr[j]
                h = r.hyper
                key = (float(h["learning_rate_init"]), float(h["beta_1"]), float(h["beta_2"]),
                       float(h["epsilon"]), int(r.opt_state["t"]), int(r._nb))
                groups.setdefault(key, []).append(j)
            P, G, M, V = net.params, net.grads, net.opt["m"], net.opt["v"]
            self.adam_groups = []
            for (lr, b1, b2, eps, _t, _nb), members in groups.items():
                self.adam_groups.append((
                    members, lr, b1, b2, eps,
                    [P[j] for j in members], [G[j] for j in members],
                    [M[j] for j in members], [V[j] for j in members],
                ))
        self._uploaded = False
        self._last_lr = None
        # S == 1: the device-side minibatch is gathered once (see fill_epoch)
        self.single_batch = S == 1
        self.gathered = False
        self.coef_d = torch.empty((S, _NCOEF, K, 1), dtype=dtype, device=device)
        # per-step views, built once
        self.step_io = []
        self.step_args = []
        for s in range(S):
            B = int(Bs[s])
            x, acts, deltas, ybuf, Y = net.buffers(B)
            ii = self.idx_d[seg[s]: seg[s + 1]]
            self.step_io.append((x, ybuf, ii))
            cs = self.coef_d[s]
            w = 1.0 / B if uniform else self.w_d[seg[s]: seg[s + 1]].view(K, B, 1)
            self.step_args.append((
                B, w, cs[_C_LOSS, :, 0],
                cs[_C_REGG] if self.any_reg else None,
                cs[_C_REGL, :, 0] if self.any_reg else None,
                cs[_C_A], cs[_C_B], cs[_C_EPS], cs[_C_LR], cs[_C_PV], cs[_C_PG],
            ))

    def _set_reg(self):
        coef, act, counts = self.coef, self.act, self.counts
        with np.errstate(divide="ignore", invalid="ignore"):
            coef[:, _C_REGG, :] = np.where(act, self.alpha / self.swsum, 0.0)
            coef[:, _C_REGL, :] = np.where(act, 0.5 * self.alpha * counts / self.swsum, 0.0)

    def fill_epoch(self):
        mr, idx, w = self.mr, self.idx, self.w
        SWh = self.SWh
        if self.gathered:
            # one full batch per model: the minibatch is the same set of rows
            # every epoch (only its order, which sums do not see, changes), so
            # the rows gathered on the device in the first epoch stay valid.
            # The shuffles still run, so each model's RNG advances as in sklearn.
            for j in self.live:
                r = mr[j]
                if r.hyper["shuffle"]:
                    r.rng.shuffle(r._sample_idx)
            self._fill_coef(False)
            return
        for j in self.live:
            r = mr[j]
            if r.hyper["shuffle"]:
                r.rng.shuffle(r._sample_idx)
            order = r._rows[r._sample_idx]
            idx[self.dst[j]] = order
            if w is not None:
                c = self.counts[: r._nb, j]
                if SWh is not None:
                    sw = SWh[order]
                    starts = np.concatenate([[0], np.cumsum(c)[:-1]])
                    tot = np.add.reduceat(sw, starts)
                    self.swsum[: r._nb, j] = np.where(tot != 0, tot, 1.0)
                    w[self.dst[j]] = sw / np.repeat(np.where(tot != 0, tot, np.inf), c)
                else:
                    w[self.dst[j]] = 1.0 / np.repeat(c, c)
        if SWh is not None:
            self._set_reg()
        self._fill_coef(SWh is not None or not self._uploaded)
        self.idx_d.copy_(torch.from_numpy(idx))
        if w is not None:
            self.w_d.copy_(torch.from_numpy(w))

    def _fill_coef(self, changed):
        mr = self.mr
        coef = self.coef
        a = self.act
        if self.solver == "adam":
            if not self.fused:  # the fused kernel takes the step count itself
                t0 = np.array([r.opt_state["t"] for r in mr], dtype=np.float64)
                t = t0[None, :] + self.cum_act
                np.maximum(t, 1.0, out=t)
                lr_t = self.lr_init * np.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
                coef[:, _C_LR, :] = -lr_t * a
                changed = True
        else:
            lr = np.array([r.opt_state["lr"] for r in mr], dtype=np.float64)
            if self._last_lr is None or not np.array_equal(lr, self._last_lr):
                coef[:, _C_LR, :] = -lr * a
                coef[:, _C_PG, :] = np.where(self.nesterov, -lr, 0.0) * a
                self._last_lr = lr
                changed = True
        if changed:
            self.coef_d.copy_(torch.from_numpy(coef).unsqueeze(-1))
            self._uploaded = True


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


def train_runs(runs: list[ModelRun], *, layer_units, activation, out_activation, loss,
               solver, device, dtype, matmul_dtype=None, callbacks: CallbackList | None = None,
               run_ids=None, stop_event=None):
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
    run_ids = list(run_ids) if run_ids is not None else list(range(K0))
    for r in runs:
        if getattr(r, "_began", False):
            continue  # a stack that ran out of device memory, trained again in halves: begun once
        r.callbacks.fit_begin(model=r.est, n_models=1, max_epochs=r.hyper["max_iter"] if not r.incremental else 1,
                              device=dev_name, run_labels=[r.label])
        r._began = True

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
            # C order: row gathers of a Fortran-ordered array are 15x slower
            arr = np.ascontiguousarray(np.concatenate([np.asarray(b, dtype=np_dtype) for b in blocks], axis=0))
        if not arr.flags.writeable:  # read-only memmap: torch only reads it, but warns
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return torch.from_numpy(arr).to(device)
        return torch.from_numpy(arr).to(device)

    Xd = upload(blocks_X)
    # the rows minibatches are gathered from: in the matmul dtype (mixed precision)
    Xm = Xd if matmul_dtype in (None, dtype) else Xd.to(matmul_dtype)
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
        # the first record of this fit not yet given to the run's own callbacks
        # and to the stack's (paced callbacks get the records in between in one call)
        r._cb_from = r._stack_from = len(r.history)
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
        net = StackNet(layout, K, activation, out_activation, loss, device, dtype, params=rows_params,
                       matmul_dtype=matmul_dtype)
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
        # one [K, P] buffer each, filled row by row (no intermediate stacks)
        kw = dict(dtype=dtype, device=device)
        P = torch.empty(K0, layout.size, **kw)
        for j, r in enumerate(runs):
            P[j].copy_(torch.from_numpy(np.asarray(r.params, dtype=np_dtype)))
        states = []
        names = ("m", "v") if solver == "adam" else ("vel",)
        for name in names:
            st = torch.zeros(K0, layout.size, **kw)
            for j, r in enumerate(runs):
                v = r.opt_state.get(name)
                if v is not None:
                    st[j].copy_(torch.as_tensor(v))
            states.append(st)
        best = None
        if any(r.val_rows is not None for r in runs):
            best = torch.empty(K0, layout.size, **kw)
            for j, r in enumerate(runs):
                src = r.best_params if r.best_params is not None else r.params
                best[j].copy_(torch.from_numpy(np.asarray(src, dtype=np_dtype)))
        return P, states, best

    P0, S0, B0 = initial_rows()
    net = build(active, P0, S0, B0)
    del P0, S0, B0
    # final per-model results are parked here when a model leaves the stack
    final_params: dict[int, torch.Tensor] = {}
    final_state: dict[int, list] = {}
    final_best: dict[int, torch.Tensor] = {}

    def park(j_local, k, final=False):
        # views when the stack is finished (no copy), copies when it goes on
        keep = (lambda t: t) if final else (lambda t: t.clone())
        final_params[k] = keep(net.params[j_local])
        if solver == "adam":
            final_state[k] = [keep(net.opt["m"][j_local]), keep(net.opt["v"][j_local])]
        else:
            final_state[k] = [keep(net.opt["vel"][j_local])]
        if net.best is not None:
            final_best[k] = keep(net.best[j_local])

    def compact():
        nonlocal net
        keep = [j for j, k in enumerate(net.models) if not runs[k]._done]
        for j, k in enumerate(net.models):
            if runs[k]._done and k not in final_params:
                park(j, k, final=not keep)
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

    sched = None
    with _Interrupt() as intr:
        try:
            epoch_global = 0
            while True:
                models = net.models
                K = len(models)
                mr = [runs[k] for k in models]
                # ---- schedule of this epoch (host) -------------------------
                if sched is None or sched.net is not net or sched.stale:
                    sched = _Schedule(net, mr, any_sw, SWh, layout, loss, solver, device, dtype)
                was_done = [r._done for r in mr]
                sched.fill_epoch()
                S = sched.S
                acc = net.acc
                acc.zero_()
                params, grads = net.params, net.grads
                opt = net.opt
                t0 = time.perf_counter()
                in_steps = True
                # ---- the steps ---------------------------------------------
                adam = solver == "adam"
                nest = solver == "sgd"
                if adam:
                    m, v = opt["m"], opt["v"]
                    g2 = sched.g2
                else:
                    vel = opt["vel"]
                fused = adam and K == 1 and _FUSED_ADAM and not mr[0]._done
                adam_groups = sched.adam_groups if adam else None
                if adam_groups is not None:
                    steps_t = sched.steps_t
                if fused:
                    h0 = mr[0].hyper
                    t_host = mr[0].opt_state["t"]
                    beta1, beta2 = float(h0["beta_1"]), float(h0["beta_2"])
                    lr_f, eps_f = float(h0["learning_rate_init"]), float(h0["epsilon"])
                    steps_t = sched.steps_t
                for s in range(S):
                    if intr.flag or (stop_event is not None and stop_event.is_set()):
                        raise KeyboardInterrupt
                    x, ybuf, ii = sched.step_io[s]
                    if not sched.gathered:
                        torch.index_select(Xm, 0, ii, out=x)
                        torch.index_select(Yd, 0, ii, out=ybuf)
                    B, w, lossc, regg, regl, cA, cB, cE, cL, cPV, cPG = sched.step_args[s]
                    net.step_loss_grad(B, w, lossc, regg, regl, acc)
                    if s == 0 and epoch_global == 0:
                        first_loss = acc.clone()  # the untrained models' loss, for divergence
                    if fused:
                        t_host += 1
                        bc2 = 1.0 - beta2 ** t_host
                        steps_t.fill_(t_host)
                        torch._fused_adam_([params], [grads], [m], [v], [], [steps_t], lr=lr_f, beta1=beta1,
                                           beta2=beta2, weight_decay=0.0, eps=eps_f / math.sqrt(bc2),
                                           amsgrad=False, maximize=False)
                    elif adam_groups is not None:
                        for members, lr_g, b1_g, b2_g, eps_g, gp, gg, gm, gv in adam_groups:
                            j0 = members[0]
                            if not sched.act[s, j0]:
                                continue
                            t_g = mr[j0].opt_state["t"] + sched.cum_act[s, j0]
                            steps_t.fill_(t_g)
                            torch._fused_adam_(gp, gg, gm, gv, [], [steps_t] * len(gp), lr=lr_g, beta1=b1_g,
                                               beta2=b2_g, weight_decay=0.0,
                                               eps=eps_g / math.sqrt(1.0 - b2_g ** t_g),
                                               amsgrad=False, maximize=False)
                    elif adam:
                        m.lerp_(grads, cA)
                        torch.mul(grads, grads, out=g2)
                        v.lerp_(g2, cB)
                        torch.sqrt(v, out=g2)
                        g2.add_(cE)
                        torch.div(m, g2, out=g2)
                        params.addcmul_(g2, cL)
                    else:
                        vel.mul_(cA)
                        vel.addcmul_(grads, cL)
                        params.addcmul_(vel, cPV)
                        if sched.any_nesterov:
                            params.addcmul_(grads, cPG)
                in_steps = False
                sched.gathered = sched.single_batch
                # ---- end of epoch: one sync ---------------------------------
                parts = [acc, params.sum(dim=1)]
                if epoch_global == 0:
                    parts.append(first_loss)
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
                host = torch.cat([p.reshape(-1) for p in parts]).cpu().numpy().astype(np.float64)
                t1 = time.perf_counter()
                epoch_time = t1 - t0
                elapsed = t1 - t_begin
                epoch_global += 1
                loss_sums = host[:K]
                psums = host[K: 2 * K]
                pos = 2 * K
                if epoch_global == 1:
                    f_loss = host[pos: pos + K]
                    pos += K
                    for j, r in enumerate(mr):
                        c0 = sched.counts[0, j]
                        r._loss0 = float(f_loss[j] / c0) if c0 else float("inf")
                if net.has_val:
                    if out_activation in ("softmax", "logistic"):
                        vstat = host[pos: pos + K]
                        pos += K
                    else:
                        n_out = layout.units[-1]
                        vstat = host[pos: pos + K * n_out].reshape(K, n_out)
                        pos += K * n_out
                    vfin = host[pos: pos + K]
                # ---- per model bookkeeping (sklearn's rules) ----------------
                improved_best = []
                stack_events = []  # this epoch's records for the stack's callbacks, sent at once
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
                    loss0 = getattr(r, "_loss0", float("inf"))
                    finite = math.isfinite(loss_k) and math.isfinite(psums[j])
                    if not finite or loss_k > DIVERGENCE_FACTOR * max(loss0, 1.0):
                        bad_rows.append(j)
                        r._done = True
                        r.stop_reason = "diverged"
                        what = (f"became non-finite ({loss_k})" if not finite else
                                f"exploded to {loss_k:.3g}, {loss_k / max(loss0, 1e-12):.1e} times its "
                                f"value at the start of training ({loss0:.3g})")
                        done = book["n_iter_total"]
                        kept = ("its initial (untrained) weights: no epoch finished" if done == 0 else
                                f"the weights of the last good epoch ({done} epoch"
                                f"{'' if done == 1 else 's'} trained)")
                        r.warned.append(
                            f"Training diverged at epoch {done + 1}: the training loss "
                            f"{what}. The model keeps {kept}. Use a smaller learning_rate_init "
                            f"(got {h['learning_rate_init']:g}; the default is 0.001).")
                        # its last records now, not when the whole stack ends (paced callbacks)
                        _deliver_records([r], callbacks, [run_ids[k]])
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
                        elif r.val_score == "one_class":
                            val_score = 1.0
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
                    own = r.callbacks
                    if (t1 >= own.due or r._done) and own.callbacks:
                        if own.epoch_end(run=0, record=rec, model=r.est, records=_own_records(r)):
                            if not r._done:
                                r._done = True
                                r.stop_reason = "stopped"
                    if (t1 >= callbacks.due or r._done) and callbacks.callbacks:
                        stack_events.append(_stack_event(r, run_ids[k]))
                if stack_events:
                    stop_requested_batch = callbacks.epoch_end_many(stack_events)
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
                if n_done != sum(was_done):
                    sched.stale = True
                if n_done == K:
                    compact()
                    break
                if n_done and (bad_rows or n_done * 4 >= K):
                    compact()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            # paced callbacks get the records they have not seen yet (a run
            # that diverged, was interrupted or stopped with the stack)
            _deliver_records(runs, callbacks, run_ids)

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
                park(j, k, final=True)
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
            # kept for a later partial_fit of a single model (on the CPU, so that
            # a fitted estimator holds no GPU memory); stacks drop it
            r.opt_state[name] = tsr.cpu() if K0 == 1 else None
    for r in runs:
        r.callbacks.fit_end(model=r.est, history=r.history, stop_reason=r.stop_reason)
    return runs


def _deliver_records(runs, callbacks, run_ids) -> None:
    """Gives the runs' own callbacks and the stack's the records of epochs
    they have not been called for (paced callbacks skip epochs; see
    :mod:`nnwidgets.trainer.events`), one call per run."""
    stack_events = []
    for k, r in enumerate(runs):
        if not hasattr(r, "_cb_from"):
            continue  # the run never started
        if r.callbacks.callbacks and r._cb_from < len(r.history):
            records = _own_records(r)
            r.callbacks.epoch_end(run=0, record=records[-1], model=r.est, records=records)
        if callbacks.callbacks and r._stack_from < len(r.history):
            stack_events.append(_stack_event(r, run_ids[k]))
    if stack_events:
        callbacks.epoch_end_many(stack_events)


def _own_records(r) -> list:
    """The run's records its own callbacks have not been given yet (and marks them given)."""
    records = r.history[r._cb_from:]
    r._cb_from += len(records)
    return records


def _stack_event(r, run_id) -> dict:
    """The stack callbacks' ``on_epoch_end`` keywords for the run's records
    they have not been given yet (and marks them given)."""
    records = r.history[r._stack_from:]
    r._stack_from += len(records)
    return {"run": run_id, "record": records[-1], "model": r.est, "records": records}


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


def _idle_cores() -> int:
    """Cores not busy with other processes (1-minute load average, minus the
    one this process itself may have kept busy), at least 1.

    Spinning OpenMP threads that wait for a preempted partner make a fit many
    times slower on shared machines (JupyterHub nodes, CI runners), so threads
    are only used where cores are idle."""
    from nnwidgets.trainer.device import default_num_threads

    n = default_num_threads()
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover - not Unix
        return n
    others = max(0.0, load - 1.0)
    return max(1, min(n, int(n - others + 0.5)))


class thread_budget:
    """Context manager: the CPU settings for one training run.

    Threads: small networks run faster on one thread (a parallel region costs
    more than the work, and spinning OpenMP threads collapse when cores are
    shared); larger ones use :func:`nnwidgets.trainer.device.configure_threads`'
    choice. Denormal floats are flushed to zero (see
    :mod:`nnwidgets.trainer.denormals`: up to 10x on Intel CPUs). Both are
    restored afterwards.
    """

    SMALL_FLOPS = 1e9  # per step, forward + backward, all stacked models

    def __init__(self, layer_units, batch, K=1, device=None):
        self.flops = 6.0 * batch * K * sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
        self.cpu = is_cpu(device)
        self.prev = None
        self.denormals = None

    def __enter__(self):
        if not self.cpu:
            return self
        from nnwidgets.trainer.denormals import flushed_denormals
        from nnwidgets.trainer.device import configure_threads

        self.denormals = flushed_denormals().__enter__()
        self.prev = torch.get_num_threads()
        if self.flops < self.SMALL_FLOPS:
            n = 1
        elif any(os.environ.get(v) for v in ("NNWIDGETS_NUM_THREADS", "OMP_NUM_THREADS")):
            n = None  # the user chose: configure_threads reads it
        else:
            n = _idle_cores()
        self.n = configure_threads(n)
        return self

    def __exit__(self, *exc):
        if self.prev is not None and torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)
        if self.denormals is not None:
            self.denormals.__exit__(*exc)
            self.denormals = None
        return False
