# %% [meta]
# title: Assignment 5 - A PyTorch decoder of fMRI categories

# %% [markdown]
# # Assignment 5: decoding image categories from fMRI with a PyTorch network
#
# The lecture decoded 26 image categories from per-run z-maps of left V1v (OpenNeuro ds001506)
# with a one-hidden-layer ReLU network with dropout, trained by SGD with weight decay. Its
# preprocessed maps are not public, so this assignment uses **SIMULATED** maps with the same
# layout (4 sessions x 26 categories x 5 runs = 520 maps of 992 voxels; see `DESCR`).
#
# The lecture had a bug: it standardized `X_train` but **not `X_test`**, so the test accuracy
# (0.0096, chance) measured nothing. You will fix it.

# %% [readonly] id=setup
import numpy as np
import matplotlib.pyplot as plt
import torch
from torch import nn, optim
from sklearn.model_selection import train_test_split
from sklearn import preprocessing
from sklearn.metrics import confusion_matrix, accuracy_score
from nnwidgets.datasets import load_fmri_categories

torch.set_num_threads(2)
fmri = load_fmri_categories()          # SIMULATED (fmri.simulated is True)
X, y = fmri.data, fmri.target
print(fmri.DESCR.splitlines()[0])
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
X.shape, np.bincount(y)[:3]

# %% [markdown]
# ### Exercise 1: scale the data - both sets
# Fit a `StandardScaler` on the training maps only and use it to transform **both** `X_train` and
# `X_test`. Store the scaled arrays in `X_train_s` and `X_test_s` and the scaler in `scaler`.

# %% [solution] id=scale
### BEGIN SOLUTION
scaler = preprocessing.StandardScaler().fit(X_train)
X_train_s = scaler.transform(X_train)
X_test_s = scaler.transform(X_test)
### END SOLUTION

# %% [tests] id=test-scale points=1
from nnwidgets.grading import check_array
check_array(X_train_s.mean(axis=0)[:20], np.zeros(20), "mean of the scaled training maps", atol=1e-8)
### BEGIN HIDDEN TESTS
check_array(X_test_s, (X_test - X_train.mean(axis=0)) / X_train.std(axis=0), "X_test_s",
            rtol=1e-6, atol=1e-8,
            cause="X_test must be transformed with the scaler fitted on X_train (not refitted, not left raw)")
### END HIDDEN TESTS

# %% [readonly] id=tensors
X_tensor_train = torch.tensor(X_train_s, dtype=torch.float32)
Y_tensor_train = torch.tensor(y_train, dtype=torch.long)
X_tensor_test = torch.tensor(X_test_s, dtype=torch.float32)
Y_tensor_test = torch.tensor(y_test, dtype=torch.long)

# %% [markdown]
# ### Exercise 2: the network
# Complete `DecodingReLuNN`: `in_layer = nn.Linear(n_inputs, n_hidden)`, a dropout of 0.25,
# `out_layer = nn.Linear(n_hidden, 26)`; `forward` applies ReLU after `in_layer`, then dropout,
# then `out_layer` (returning the 26 logits).

# %% [solution] id=module
class DecodingReLuNN(nn.Module):
    def __init__(self, n_inputs, n_hidden):
        super().__init__()
        ### BEGIN SOLUTION
        self.in_layer = nn.Linear(n_inputs, n_hidden)
        self.dropout = nn.Dropout(0.25)
        self.out_layer = nn.Linear(n_hidden, 26)
        ### END SOLUTION

    def forward(self, V_P):
        ### BEGIN SOLUTION
        V_P = torch.relu(self.in_layer(V_P))
        V_P = self.dropout(V_P)
        return self.out_layer(V_P)
        ### END SOLUTION

# %% [tests] id=test-module points=2
from nnwidgets.grading import check_output_shape, check_value
torch.manual_seed(0)
probe = DecodingReLuNN(992, 509)
check_value(sum(p.numel() for p in probe.parameters()), 992 * 509 + 509 + 509 * 26 + 26,
            "number of parameters of DecodingReLuNN(992, 509)")
check_output_shape(probe, torch.zeros(3, 992), (3, 26), "output shape for 3 maps")
### BEGIN HIDDEN TESTS
drops = [m for m in probe.modules() if isinstance(m, nn.Dropout)]
check_value(len(drops), 1, "number of nn.Dropout layers")
check_value(drops[0].p, 0.25, "dropout probability")
probe.eval()
a = probe(torch.ones(2, 992)); b = probe(torch.ones(2, 992))
check_value(torch.equal(a, b), True, "eval-mode outputs are deterministic (dropout off)")
probe.train()
h = torch.relu(probe.in_layer(torch.ones(1, 992)))
check_value(bool((probe.out_layer(h) - probe.eval()(torch.ones(1, 992))).abs().max() < 1e-5), True,
            "forward = out_layer(dropout(relu(in_layer(x))))")
### END HIDDEN TESTS

# %% [markdown]
# Before training, the lecture measured the untrained network's cross-entropy on the training
# maps: 3.2855, about ln(26) = 3.258, the loss of guessing uniformly among 26 categories.

# %%
torch.manual_seed(1)
untrained = DecodingReLuNN(X_tensor_train.shape[1], 509)
untrained.eval()
with torch.no_grad():
    untrained_loss = nn.CrossEntropyLoss()(untrained(X_tensor_train), Y_tensor_train).item()
print(f"untrained cross entropy loss {untrained_loss:.4f}; ln(26) = {np.log(26):.4f} (SIMULATED maps)")

# %% [markdown]
# ### Exercise 3: training with SGD and weight decay
# Complete `analysis`: full-batch gradient descent with `optim.SGD(net.parameters(),
# lr=learning_rate, weight_decay=1e-4)` for `n_epochs`, storing each epoch's loss in `train_loss`;
# then evaluate on the test set **in eval mode** (no dropout, no gradients). The lecture trained
# 1000 epochs at lr 0.1; we use **150 epochs** to keep the notebook fast on a CPU (the loss is
# already low: the point survives).

# %% [solution] id=train
def analysis(net, loss_fn, train_data, train_labels, test_data, test_labels, n_epochs=150,
             learning_rate=0.1):
    optimizer = optim.SGD(net.parameters(), lr=learning_rate, weight_decay=1e-4)
    train_loss = []
    net.train()
    for i in range(n_epochs):
        ### BEGIN SOLUTION
        out = net(train_data)
        optimizer.zero_grad()
        loss = loss_fn(out, train_labels)
        loss.backward()
        optimizer.step()
        train_loss.append(loss.item())
        ### END SOLUTION
    net.eval()
    with torch.no_grad():
        y_pred = net(train_data).argmax(dim=1)
        outputs = net(test_data)
        test_loss = loss_fn(outputs, test_labels).item()
        y_pred_test = outputs.argmax(dim=1)
    return train_loss, y_pred, y_pred_test, test_loss

np.random.seed(1)
torch.manual_seed(1)
net = DecodingReLuNN(X_tensor_train.shape[1], 509)   # 509 = (inputs + outputs) / 2
loss_fn = nn.CrossEntropyLoss()
train_loss, y_pred, y_pred_test, test_loss = analysis(net, loss_fn, X_tensor_train, Y_tensor_train,
                                                      X_tensor_test, Y_tensor_test)
plt.plot(train_loss)
plt.xlabel('iterations of gradient descent')
plt.ylabel('Cross entropy')
plt.title('SIMULATED fMRI maps: training loss');

# %% [tests] id=test-train points=3
from nnwidgets.grading import check_value, check_model_metric
check_value(len(train_loss), 150, "number of recorded losses")
check_value(train_loss[-1] < train_loss[0], True, "the training loss decreased")
check_model_metric(net, X_tensor_test, Y_tensor_test, "accuracy", name="net",
                   reported=accuracy_score(Y_tensor_test, y_pred_test))
### BEGIN HIDDEN TESTS
check_model_metric(net, X_tensor_train, Y_tensor_train, "accuracy", name="net (training set)",
                   at_least=0.9)
check_model_metric(net, X_tensor_test, Y_tensor_test, "accuracy", name="net",
                   expected={{ref:test_accuracy}}, randomized=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 4: confusion matrices
# Compute `cf_matrix_train` and `cf_matrix_test` (rows: true category, columns: predicted) and the
# accuracies `train_accuracy`, `test_accuracy`.

# %% [solution] id=confusion
### BEGIN SOLUTION
cf_matrix_train = confusion_matrix(Y_tensor_train, y_pred)
cf_matrix_test = confusion_matrix(Y_tensor_test, y_pred_test)
train_accuracy = accuracy_score(Y_tensor_train, y_pred)
test_accuracy = accuracy_score(Y_tensor_test, y_pred_test)
### END SOLUTION
fig, axes = plt.subplots(1, 2, figsize=(14, 6))
for ax, cm, name in [(axes[0], cf_matrix_train, 'training'), (axes[1], cf_matrix_test, 'test')]:
    ax.imshow(cm, cmap='viridis')
    ax.set_xlabel('predicted category'); ax.set_ylabel('true category')
    ax.set_title(f'Confusion matrix, {name} set (SIMULATED data)')
train_accuracy, test_accuracy

# %% [tests] id=test-confusion points=2
from nnwidgets.grading import check_array, check_model_metric, check_value
check_value(cf_matrix_test.shape, (26, 26), "cf_matrix_test.shape")
check_array(cf_matrix_test, confusion_matrix(y_test, net(X_tensor_test).detach().argmax(dim=1).numpy()),
            "cf_matrix_test (recomputed from net in eval mode)")
check_value(np.trace(cf_matrix_test) / cf_matrix_test.sum(), test_accuracy, "test_accuracy vs the matrix")
### BEGIN HIDDEN TESTS
check_model_metric(net, X_tensor_test, Y_tensor_test, "accuracy", reported=test_accuracy, name="net")
check_value(test_accuracy > 3 / 26, True, "test accuracy above chance (1/26) once X_test is scaled")
### END HIDDEN TESTS

# %% [markdown]
# ### The same training with `%%nntrain`
# nnwidgets' `%%nntrain` magic trains the module the cell returns with the same optimizer settings,
# showing a live loss plot while it trains, and reports the test accuracy at the end (not graded).

# %%
%load_ext nnwidgets

# %%
%%nntrain --data X_tensor_train,Y_tensor_train --test X_tensor_test,Y_tensor_test --epochs 150 --optimizer sgd --lr 0.1 --weight-decay 1e-4 --loss cross_entropy --seed 1 --label "decoder (SIMULATED fMRI)" --out nntrain_run
DecodingReLuNN(X_tensor_train.shape[1], 509)

# %%
nntrain_run.test_score

# %% [markdown]
# **Question.** The lecture reported a test accuracy of 0.0096 and concluded that the network
# "did not change anything". What went wrong, and what does your corrected notebook show?

# %% [answer] id=q-bug points=1
# X_test was never standardized, so the network saw test inputs on a different scale from its
# training inputs and its test predictions were meaningless. With X_test transformed by the
# scaler fitted on X_train, the (simulated) categories are decoded well above chance.
