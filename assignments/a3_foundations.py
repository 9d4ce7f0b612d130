# %% [meta]
# title: Assignment 3 - Foundations of neural networks
# published.softmax_001: [0.21194156, 0.21194156, 0.57611688]
# record.momentum_end: momentum(0.6, 0.9)[-1].tolist()
# record.nesterov_end: nesterov(0.6, 0.9)[-1].tolist()
# record.softmax_001: softmax([0, 0, 1]).tolist()

# %% [markdown]
# # Assignment 3: Foundations - perceptrons, activations, optimizers, backpropagation
#
# Exercises from the *Neural Networks* lecture (material adapted from
# http://neuralnetworksanddeeplearning.com). Fill in the cells marked `# YOUR CODE HERE`;
# the cells with `check_...` are the autograder's tests. The class-quiz questions of the
# lecture are the `answer_...` variables.

# %% [readonly] id=setup
import numpy as np
import matplotlib.pyplot as plt
import torch

# %% [markdown]
# ## 1. Perceptrons
# A perceptron outputs 1 if $w \cdot x + b > 0$ and 0 otherwise. Implement `perceptron(x, w, b)`
# for a single input vector `x`.

# %% [solution] id=perceptron
def perceptron(x, w, b):
    ### BEGIN SOLUTION
    return int(np.dot(w, x) + b > 0)
    ### END SOLUTION

# %% [tests] id=test-perceptron points=1
from nnwidgets.grading import check_value
check_value(perceptron([1, 0], [1, 1], -0.5), 1, "perceptron([1, 0], w=[1, 1], b=-0.5)")
check_value(perceptron([0, 0], [1, 1], -0.5), 0, "perceptron([0, 0], w=[1, 1], b=-0.5)")
### BEGIN HIDDEN TESTS
check_value(perceptron([1, 1], [1, 1], -2), 0, "perceptron at the threshold (w.x + b = 0)",
            cause="the output is 1 only if w.x + b > 0 (strictly)")
### END HIDDEN TESTS

# %% [markdown]
# **Quiz (nand).** Consider the perceptron with weights $w = (-2, -2)$ and bias $b = 3$. What are the
# corresponding outputs for x = [0,0],[0,1],[1,0], and [1,1]? Set `answer_nand` to the index
# (0 for the first) of one of: `"0,0,0,0"`, `"0,1,1,0"`, `"0,0,0,1"`, `"0,1,1,1"`, `"1,1,1,0"`;
# then compute `nand_outputs`, the list of the 4 outputs of your `perceptron`.

# %% [solution] id=nand
### BEGIN SOLUTION
nand_outputs = [perceptron(x, [-2, -2], 3) for x in ([0, 0], [0, 1], [1, 0], [1, 1])]
answer_nand = 4
### END SOLUTION
nand_outputs

# %% [tests] id=test-nand points=1
from nnwidgets.grading import check_value, check_answer
check_answer(answer_nand, None, "quiz nand", choices=range(5))
### BEGIN HIDDEN TESTS
check_value(nand_outputs, [1, 1, 1, 0], "outputs of the NAND perceptron")
check_answer(answer_nand, 4, "quiz nand")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Activation functions
# Implement `sigmoid(z)`, `relu(z)` and the `step(z)` of the perceptron, vectorized over NumPy
# arrays, and plot them with `np.tanh` on $[-10, 10]$.

# %% [solution] id=activations
def sigmoid(z):
    ### BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    return np.exp(-np.logaddexp(0, -z))          # 1 / (1 + e^-z) without overflow
    ### END SOLUTION

def relu(z):
    ### BEGIN SOLUTION
    return np.maximum(0, z)
    ### END SOLUTION

def step(z):
    ### BEGIN SOLUTION
    return (np.asarray(z) > 0).astype(float)
    ### END SOLUTION

# %%
x = np.linspace(-10, 10, 201)
for f, name in [(step, 'step'), (sigmoid, 'sigmoid'), (np.tanh, 'tanh'), (relu, 'ReLU')]:
    plt.plot(x, f(x), label=name)
plt.ylim(-1.5, 3); plt.legend(); plt.title('Activation functions');

# %% [tests] id=test-activations points=1
from nnwidgets.grading import check_array
z = np.array([-2.0, 0.0, 3.0])
check_array(relu(z), [0, 0, 3], "relu([-2, 0, 3])")
check_array(step(z), [0, 0, 1], "step([-2, 0, 3])")
### BEGIN HIDDEN TESTS
check_array(sigmoid(z), 1 / (1 + np.exp(-z)), "sigmoid([-2, 0, 3])")
from nnwidgets.grading import quiet
with quiet():  # an overflow warning must not cost the point (nbgrader zeroes cells with stderr)
    extreme = sigmoid(np.array([-800.0, 800.0]))
check_array(extreme, [0, 1], "sigmoid at +-800", atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Softmax
# Implement `softmax(z)`. The lecture's version `np.exp(z)/np.sum(np.exp(z))` overflows for large
# inputs (try `softmax([1000, 0])`): make yours numerically stable by subtracting `max(z)` first.

# %% [solution] id=softmax
def softmax(z):
    ### BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return e / e.sum()
    ### END SOLUTION

softmax([0, 0, 1]), softmax([10, 0, -2])

# %% [tests] id=test-softmax points=1
from nnwidgets.grading import check_array
check_array(softmax([0, 0, 1]), {{published:softmax_001}}, "softmax([0, 0, 1]) (lecture)", rtol=1e-7)
check_array(softmax([10, 0, -2]).sum(), 1.0, "softmax([10, 0, -2]) sums to 1")
### BEGIN HIDDEN TESTS
from nnwidgets.grading import quiet
with quiet():
    big = softmax([1000, 0])
check_array(big, [1, 0], "softmax([1000, 0])", atol=1e-12,
            cause="exp(1000) overflows: subtract max(z) before exponentiating")
### END HIDDEN TESTS

# %% [markdown]
# **Quiz (bpopt).** Will SGD (eventually) converge to a global optimum? Set `answer_bpopt` to one of
# `"Yes"`, `"No"`, `"Depends"`.
#
# **Quiz (moment).** For what value of mu does the momentum update rule reduce to SGD? Set
# `answer_moment` to one of `"0"`, `"1"`, `"0.5"`, `"None of the above"`.

# %% [solution] id=quiz-optim
### BEGIN SOLUTION
answer_bpopt = "Depends"
answer_moment = "0"
### END SOLUTION

# %% [tests] id=test-quiz-optim points=1
from nnwidgets.grading import check_answer
check_answer(answer_bpopt, None, "quiz bpopt", ["Yes", "No", "Depends"])
check_answer(answer_moment, None, "quiz moment", ["0", "1", "0.5", "None of the above"])
### BEGIN HIDDEN TESTS
check_answer(answer_bpopt, "Depends", "quiz bpopt")
check_answer(answer_moment, "0", "quiz moment")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Gradient descent, momentum and Nesterov momentum
# On $f(x, y) = x^2 + |0.1 y|$ starting at $(-1, 1)$, implement the three update rules for 10
# steps and return the list of the 11 visited points (start included):
#
# * gradient descent: $p' = p - \eta \nabla f(p)$
# * classical momentum: $v' = \mu v - \eta \nabla f(p)$, $p' = p + v'$
# * Nesterov: $v' = \mu v - \eta \nabla f(p + \mu v)$, $p' = p + v'$

# %% [readonly] id=f-and-grad
def f(x, y):
    return x ** 2 + np.abs(0.1 * y)

def g(x, y):
    return np.array([2 * x, np.sign(y) * 0.1])

# %% [solution] id=optimizers
def gradient_descent(eta, steps=10):
    ### BEGIN SOLUTION
    pt = np.array([-1.0, 1.0]); path = [pt]
    for _ in range(steps):
        pt = pt - eta * g(*pt); path.append(pt)
    return np.array(path)
    ### END SOLUTION

def momentum(eta, mu, steps=10):
    ### BEGIN SOLUTION
    pt = np.array([-1.0, 1.0]); v = np.zeros(2); path = [pt]
    for _ in range(steps):
        v = mu * v - eta * g(*pt); pt = pt + v; path.append(pt)
    return np.array(path)
    ### END SOLUTION

def nesterov(eta, mu, steps=10):
    ### BEGIN SOLUTION
    pt = np.array([-1.0, 1.0]); v = np.zeros(2); path = [pt]
    for _ in range(steps):
        v = mu * v - eta * g(*(pt + mu * v)); pt = pt + v; path.append(pt)
    return np.array(path)
    ### END SOLUTION

# %%
X_, Y_ = np.meshgrid(np.arange(-2, 2, 0.1), np.arange(-2, 2, 0.1))
fig, axes = plt.subplots(1, 3, figsize=(15, 5))
for ax, (name, path) in zip(axes, [('GD eta=0.6', gradient_descent(0.6)),
                                    ('momentum eta=0.6 mu=0.9', momentum(0.6, 0.9)),
                                    ('Nesterov eta=0.6 mu=0.9', nesterov(0.6, 0.9))]):
    ax.imshow(f(X_, Y_), origin='lower', extent=[-2, 2, -2, 2])
    ax.plot(path[:, 0], path[:, 1], 'wo-')
    ax.set_title(name)

# %% [tests] id=test-optimizers points=2
from nnwidgets.grading import check_array
check_array(gradient_descent(0.1)[1], [-0.8, 0.99], "first gradient-descent step (eta=0.1)")
check_array(np.shape(momentum(0.1, 0.9)), (11, 2), "shape of the momentum path")
### BEGIN HIDDEN TESTS
check_array(momentum(0.6, 0.0), gradient_descent(0.6), "momentum with mu=0 is gradient descent")
check_array(momentum(0.6, 0.9)[-1], {{ref:momentum_end}}, "momentum end point (eta=0.6, mu=0.9)")
check_array(nesterov(0.6, 0.9)[-1], {{ref:nesterov_end}}, "Nesterov end point (eta=0.6, mu=0.9)",
            cause="the gradient must be evaluated at the look-ahead point p + mu v")
### END HIDDEN TESTS

# %% [markdown]
# **Quiz (lrcolor / lrcolor2).** The lecture plotted loss curves for learning rates 0.0001, 0.001,
# 0.01 and 0.1 in matplotlib's default colours (blue, orange, green, red, in that order). Which
# colour is from the smallest learning rate (`answer_lrcolor`) and which from the largest
# (`answer_lrcolor2`)? Choices: `"blue"`, `"orange"`, `"red"`, `"green"`.

# %% [solution] id=quiz-lr
### BEGIN SOLUTION
answer_lrcolor = "blue"
answer_lrcolor2 = "red"
### END SOLUTION

# %% [tests] id=test-quiz-lr points=1
from nnwidgets.grading import check_answer
check_answer(answer_lrcolor, None, "quiz lrcolor", ["blue", "orange", "red", "green"])
### BEGIN HIDDEN TESTS
check_answer(answer_lrcolor, "blue", "quiz lrcolor")
check_answer(answer_lrcolor2, "red", "quiz lrcolor2")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Backpropagation, checked against autograd
# For a network with one hidden layer, $a^1 = \sigma(W^1 x + b^1)$, $\hat y = W^2 a^1 + b^2$ and
# loss $L = \frac12 \|\hat y - y\|^2$, implement `backprop(x, y, W1, b1, W2, b2)` returning the
# gradients `(dW1, db1, dW2, db2)` with the lecture's four equations (NumPy only).

# %% [solution] id=backprop
def backprop(x, y, W1, b1, W2, b2):
    ### BEGIN SOLUTION
    z1 = W1 @ x + b1
    a1 = sigmoid(z1)
    out = W2 @ a1 + b2
    delta2 = out - y                                  # output error (identity output)
    delta1 = (W2.T @ delta2) * a1 * (1 - a1)          # backpropagate through sigma'
    return np.outer(delta1, x), delta1, np.outer(delta2, a1), delta2
    ### END SOLUTION

# %% [tests] id=test-backprop points=2
from nnwidgets.grading import check_array
rng = np.random.default_rng(0)
x, y = rng.normal(size=4), rng.normal(size=2)
W1, b1, W2, b2 = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(2, 3)), rng.normal(size=2)
params = [torch.tensor(p, requires_grad=True) for p in (W1, b1, W2, b2)]
tW1, tb1, tW2, tb2 = params
loss = 0.5 * ((tW2 @ torch.sigmoid(tW1 @ torch.tensor(x) + tb1) + tb2 - torch.tensor(y)) ** 2).sum()
loss.backward()
grads = backprop(x, y, W1, b1, W2, b2)
for name, mine, ref in zip(["dW1", "db1", "dW2", "db2"], grads, params):
    check_array(mine, ref.grad.numpy(), f"{name} (compared with torch autograd)", rtol=1e-6, atol=1e-9)

# %% [markdown]
# ## 6. Counting parameters
# **Quiz (bpcnt).** A network has 10 input nodes, two hidden layers each with 10 neurons, and 10
# output neurons. How many parameters does training have to estimate? Choices: 30, 100, 300, 330,
# 600. Write `count_parameters(layer_sizes)` (weights + biases of a fully connected network given
# its layer sizes, input first) and set `answer_bpcnt` to the right choice.

# %% [solution] id=count-params
def count_parameters(layer_sizes):
    ### BEGIN SOLUTION
    return int(sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])))
    ### END SOLUTION

### BEGIN SOLUTION
answer_bpcnt = 330
### END SOLUTION
count_parameters([10, 10, 10, 10])

# %% [tests] id=test-count-params points=1
from nnwidgets.grading import check_value, check_answer
check_value(count_parameters([2, 1]), 3, "count_parameters([2, 1])")
check_answer(answer_bpcnt, None, "quiz bpcnt", [30, 100, 300, 330, 600])
### BEGIN HIDDEN TESTS
net = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10),
                          torch.nn.ReLU(), torch.nn.Linear(10, 10))
check_value(count_parameters([10, 10, 10, 10]), sum(p.numel() for p in net.parameters()),
            "count_parameters([10, 10, 10, 10]) (torch counts 330)")
check_answer(answer_bpcnt, 330, "quiz bpcnt")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Regularization: L2 (weight decay) and dropout
# With $L = L_0 + \frac{\lambda}{2n}\sum w^2$ the update is
# $w' = w - \eta \frac{\partial L_0}{\partial w} - \frac{\eta\lambda}{n} w$. Implement
# `l2_update(w, grad, eta, lam, n)`, and `dropout(a, p, rng)` that zeroes each activation with
# probability `p` and scales the survivors by `1/(1-p)` (inverted dropout, as `torch.nn.Dropout`).

# %% [solution] id=regularization
def l2_update(w, grad, eta, lam, n):
    ### BEGIN SOLUTION
    return w - eta * grad - eta * lam / n * w
    ### END SOLUTION

def dropout(a, p, rng):
    ### BEGIN SOLUTION
    keep = rng.random(np.shape(a)) >= p
    return np.where(keep, a / (1 - p), 0.0)
    ### END SOLUTION

# %% [tests] id=test-regularization points=2
from nnwidgets.grading import check_array, check_value
check_array(l2_update(np.array([1.0]), np.array([0.0]), 0.1, 1.0, 10), [0.99], "pure weight decay step")
out = dropout(np.ones(100000), 0.25, np.random.default_rng(0))
check_value((out == 0).mean(), 0.25, "fraction of dropped units (p=0.25)", atol=0.01)
### BEGIN HIDDEN TESTS
check_value(out.mean(), 1.0, "mean activation after inverted dropout", atol=0.01,
            cause="survivors must be scaled by 1/(1-p) so the expected activation is unchanged")
w = torch.tensor([0.5, -2.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1, weight_decay=0.3)
(w ** 2).sum().backward(); opt.step()
check_array(l2_update(np.array([0.5, -2.0]), np.array([1.0, -4.0]), 0.1, 0.3, 1),
            w.detach().numpy(), "l2_update vs torch SGD(weight_decay=lam/n)", rtol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# **Question.** Why is favoring smaller weights good?

# %% [answer] id=q-small-weights points=1
# Small weights make the network's output change little when the input changes a little, so it
# cannot fit the noise of individual training samples: a smoother, simpler function generalizes
# better.

# %% [markdown]
# ## 8. CPU vs GPU
# The lecture timed `y += x` on a million numbers with numba on the CPU and the GPU. Time a matrix
# product of two n x n float32 matrices with `%%gputime` for n = 256 and 1024 (the panel times CPU
# and, when there is one, the GPU, synchronizing correctly). Without a GPU only the CPU is timed.

# %%
%load_ext nnwidgets

# %%
%%gputime --label "matmul float32" --sizes 256,1024 --max-time 0.5
a = torch.randn(n, n, device=device)
# --- timed ---
a @ a

# %% [markdown]
# **Question.** When is a GPU faster than the CPU for this operation, and why is it slower for
# small `n`? (Without a GPU here, answer from what you know, or run the cell on a machine with
# one, such as a Colab GPU runtime.)

# %% [answer] id=q-gpu points=1
# For large n: thousands of GPU cores multiply in parallel. For small n the fixed costs (kernel
# launch, synchronization, copying data between host and device) dominate the tiny amount of work.
