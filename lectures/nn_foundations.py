# %% [meta]
# title: Lecture - Neural Networks (foundations)

# %% [markdown]
# # Neural Networks
# Ample material adapted from http://neuralnetworksanddeeplearning.com
#
# The class-quiz questions of this lecture are `Asker` widgets: answer them, and the
# instructor sees the class's answers live (`nnwidgets quiz serve`). Without a server your
# answers are kept on this computer only (in `~/.local/share/nnwidgets/quiz.sqlite`).

# %%
import numpy as np
import matplotlib.pyplot as plt
from nnwidgets import Asker

# %% [markdown]
# ## Perceptron
# $$output = \begin{cases} 0 \text{ if } w\cdot x + b \le 0 \\ 1 \text{ if } w\cdot x + b > 0 \end{cases}$$
# Consider the perceptron with weights $w = (-2, -2)$ and bias $b = 3$. If $x$ takes on only
# binary values, what are the possible outputs?

# %%
Asker(id="nand", question="What are the corresponding outputs for x = [0,0],[0,1],[1,0], and [1,1]?",
      answers=["0,0,0,0", "0,1,1,0", "0,0,0,1", "0,1,1,1", "1,1,1,0"], correct=4)

# %% [markdown]
# We can implement a NAND gate with a perceptron... so we can basically compute anything with
# enough perceptrons.
#
# ## Neurons and activation functions
# Instead of a binary output, the output is an activation function of the weighted input:
# $output = \sigma(w\cdot x + b)$.

# %%
x = np.linspace(-10, 10, 201)
fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
for ax, (name, values) in zip(axes, [("step (perceptron)", x > 0), ("sigmoid", 1 / (1 + np.exp(-x))),
                                     ("tanh", np.tanh(x)), ("ReLU", x * (x > 0))]):
    ax.plot(x, values, linewidth=3)
    ax.set_title(name)
# the sigmoid's slope is set by the weights: sigma(2x) is steeper, sigma(0.5x) flatter
axes[1].plot(x, 1 / (1 + np.exp(-2 * x)), linewidth=2, label=r"$\sigma(2x)$")
axes[1].plot(x, 1 / (1 + np.exp(-0.5 * x)), linewidth=2, label=r"$\sigma(0.5x)$")
axes[1].legend(fontsize=8);

# %% [markdown]
# ## Stochastic gradient descent
# Randomly select $m$ training examples $X_j$ (a batch), compute the gradient of the loss $L$ and
# update the weights with learning rate $\eta$:
# $w_k' = w_k-\frac{\eta}{m}\sum_j^m \frac{\partial L_{X_j}}{\partial w_k}$.

# %%
Asker(id="bpopt", question="Will SGD (eventually) converge to a global optimum?",
      answers=["Yes", "No", "Depends"], correct=2)

# %% [markdown]
# ## Softmax
# For classification the output layer is a softmax, $a^N_j = e^{z^N_j} / \sum_k e^{z^N_k}$: a
# probability distribution over the classes.

# %%
def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())          # subtracting max(z) avoids overflow
    return e / e.sum()

softmax([0, 0, 1]), softmax([10, 0, -2])

# %% [markdown]
# ## Momentum
# Keep a velocity, an accumulated history of changes, with momentum coefficient $\mu$:
# $v' = \mu v - \eta \nabla L$, $w' = w + v'$.

# %%
Asker(id="moment", question="For what value of mu does the momentum update rule reduce to SGD?",
      answers=["0", "1", "0.5", "None of the above"], correct=0)

# %% [markdown]
# ## Nesterov momentum
# $v' = \mu v - \eta \nabla L(W+\mu v)$, $w' = w+v'$ (Sutskever et al. 2013). Gradient descent,
# classical momentum and Nesterov on $f(x, y) = x^2 + |0.1 y|$:

# %%
def f(x, y):
    return x ** 2 + np.abs(0.1 * y)

def g(x, y):
    return np.array([2 * x, np.sign(y) * 0.1])

def path(eta, mu=0.0, nesterov=False, steps=10):
    pt, v, points = np.array([-1.0, 1.0]), np.zeros(2), [np.array([-1.0, 1.0])]
    for _ in range(steps):
        v = mu * v - eta * g(*(pt + mu * v if nesterov else pt))
        pt = pt + v
        points.append(pt)
    return np.array(points)

X_, Y_ = np.meshgrid(np.arange(-2, 2, 0.1), np.arange(-2, 2, 0.1))

# the negative gradient at (-1, 1): the direction gradient descent steps in
plt.figure(figsize=(5, 5))
plt.imshow(f(X_, Y_), origin='lower', extent=[-2, 2, -2, 2])
plt.colorbar()
plt.plot([-1], [1], 'wo')
step = -g(-1, 1)
plt.annotate("", xy=(-1 + step[0], 1 + step[1]), xytext=(-1, 1),
             arrowprops={'arrowstyle': '->', 'color': 'white'})
plt.title(r"$f(x, y) = x^2 + |0.1 y|$ and $-\nabla f(-1, 1)$");

# %%
fig, axes = plt.subplots(2, 3, figsize=(15, 9))
for row, eta in zip(axes, [0.6, 0.1]):
    for ax, (name, p) in zip(row, [("Gradient Descent", path(eta)), ("Classical Momentum", path(eta, 0.9)),
                                   ("Nesterov Momentum", path(eta, 0.9, True))]):
        ax.imshow(f(X_, Y_), origin='lower', extent=[-2, 2, -2, 2])
        ax.plot(p[:, 0], p[:, 1], 'wo-')
        ax.set_title(f"{name} ($\\eta$={eta})")

# %% [markdown]
# Nesterov momentum can still screw up: with $\eta$ = 0.7 it overshoots (and, as the
# panels above show, a smaller learning rate makes more progress).

# %%
p = path(0.7, 0.9, True)
plt.figure(figsize=(5, 5))
plt.imshow(f(X_, Y_), origin='lower', extent=[-2, 2, -2, 2])
plt.plot(p[:, 0], p[:, 1], 'wo-')
plt.xlim(-2, 2); plt.ylim(-2, 2)
plt.title(r"Nesterov Momentum ($\eta$=0.7, $\mu$=0.9)");

# %% [markdown]
# ## Backpropagation
# 1. Feedforward $a^{l} = \sigma(z^{l})$; 2. output error $\delta^{N} = \nabla_a L \odot \sigma'(z^N)$;
# 3. backpropagate $\delta^{l} = ((w^{l+1})^T \delta^{l+1}) \odot \sigma'(z^{l})$;
# 4. gradients $\partial L / \partial w^l_{jk} = a^{l-1}_k \delta^l_j$ and $\partial L / \partial b^l_j = \delta^l_j$.

# %%
Asker(id="bpcnt", question="A network has 10 input nodes, two hidden layers each with 10 neurons, and 10 output neurons.  How many parameters does training have to estimate?",
      answers=["30", "100", "300", "330", "600"], correct=3)

# %% [markdown]
# ## Regularization
# L2: $L = L_O + \frac{\lambda}{2n} \sum_w w^2$, so $w' = w-\eta \frac{\partial L_O}{\partial w}-\frac{\eta \lambda}{n} w$
# ($\lambda$: the weight decay). Dropout: in each training iteration remove a random subset of
# interior nodes, update the weights with backpropagation, restore the nodes. Data augmentation:
# reasonable modifications of existing data expand the training set.
#
# ## How to scale it?
# Fine-grained parallelism (SIMD, GPUs: thousands of CUDA cores running the same kernel on
# different data) and coarse-grained parallelism (batches trained on several workers, gradients
# averaged: synchronous / asynchronous SGD). Time a matrix product on the CPU and, when there is
# one, on the GPU (`%%gputime` synchronizes the device before reading the clock):

# %%
%load_ext nnwidgets

# %%
%%gputime --label "matmul" --sizes 256,1024 --max-time 0.3
import torch
a = torch.randn(n, n, device=device)
# --- timed ---
a @ a

# %% [markdown]
# ## Overfitting: a network can memorize noise
# The lecture trained scikit-learn's default `MLPClassifier()` on a TCGA table of 0/1 mutation
# calls (not redistributable) and got a training AUC of 0.99994 but a held-out AUC of 0.52:
# it had memorized its training patients. Here is a **SIMULATED** stand-in of the same
# kind: sparse 0/1 features and labels that do not depend on them at all.

# %%
import warnings
from sklearn import metrics
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from nnwidgets import MLPClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # 200 iterations, on purpose
rng = np.random.default_rng(0)
X = (rng.random((600, 2000)) < 0.02).astype(float)  # SIMULATED: 600 "patients", 2000 "genes"
Y = (rng.random(600) < 0.85).astype(float)          # SIMULATED labels, unrelated to X
kf = KFold(n_splits=3, shuffle=True, random_state=0)
(train, test) = list(kf.split(X))[0]
Xtrain, Ytrain, Xtest, Ytest = X[train], Y[train], X[test], Y[test]
mlp = MLPClassifier(random_state=0)
mlp.fit(Xtrain, Ytrain)
plt.plot(mlp.loss_curve_)
plt.xlabel('Iteration'); plt.ylabel('Loss'); plt.title('Training loss (SIMULATED mutation data)')
print("Test on Train AUC", metrics.roc_auc_score(Ytrain, mlp.predict_proba(Xtrain)[:, 1]))
print("Held out Test AUC", metrics.roc_auc_score(Ytest, mlp.predict_proba(Xtest)[:, 1]))

# %% [markdown]
# A training AUC near 1 with a held-out AUC near 0.5 (chance): the training score says nothing
# about new data. The network's settings (`mlp.get_params()`) are scikit-learn's defaults:

# %%
mlp.get_params()

# %% [markdown]
# ## Effect of learning rate
# The same network trained with four learning rates, 200 iterations each (the lecture used a
# cheminformatics data set; here the digits, scaled to [0, 1]). Look at the curves, then answer.

# %%
from sklearn.model_selection import train_test_split
from nnwidgets.datasets import load_digits

digits = load_digits()
Xtrain, Xtest, Ytrain, Ytest = train_test_split(digits.data / 16, digits.target, random_state=0)
for lr in [0.0001, 0.001, 0.01, 0.1]:
    mlp = MLPClassifier(learning_rate_init=lr, max_iter=200, random_state=0)
    mlp.fit(Xtrain, Ytrain)
    plt.plot(mlp.loss_curve_)
plt.xlabel('Iteration'); plt.ylabel('Loss');

# %%
Asker(id="lrcolor", question="Which color is from the smallest learning rate?",
      answers=["blue", "orange", "red", "green"], correct=0)

# %%
Asker(id="lrcolor2", question="Which color is from the largest learning rate?",
      answers=["blue", "orange", "red", "green"], correct=2)

# %% [markdown]
# The colours, in the order the curves were drawn (matplotlib's default cycle):

# %%
for lr in [0.0001, 0.001, 0.01, 0.1]:
    plt.plot([0, 1], np.log10([lr, lr]), label=f'{lr}')
plt.ylabel('log10(learning rate)'); plt.legend();
