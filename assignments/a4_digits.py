# %% [meta]
# title: Assignment 4 - Digits - MLPs vs SVM, and what a model stores

# %% [markdown]
# # Assignment 4: Digits - multi-layer perceptrons vs a support vector machine
#
# A neural net does universal function approximation: with one hidden layer,
# $f(x) = W_2 g(W_1^T x + b_1) + b_2$. Here you compare MLPs with an SVM on scikit-learn's 8x8
# handwritten digits, by accuracy **and** by how many numbers each model stores.
#
# `nnwidgets.MLPClassifier` is a drop-in replacement of scikit-learn's (same arguments,
# `coefs_`, `loss_curve_`, ...) trained with PyTorch.

# %% [readonly] id=setup
import numpy as np
import matplotlib.pyplot as plt
from sklearn import svm, model_selection
from nnwidgets import MLPClassifier
from nnwidgets.datasets import load_digits

digits = load_digits()
digits_X = digits.data
digits_y = digits.target
# the lecture split without a seed; we fix it so that everyone's numbers are comparable
X_train, X_test, y_train, y_test = model_selection.train_test_split(digits_X, digits_y, random_state=0)
digits.images[0]

# %% [markdown]
# ### Exercise 1: a small MLP
# Train `mlp`, an MLP with **one hidden layer of 16 neurons** (`solver="lbfgs"`, `max_iter=100`,
# `alpha=1e-4`, `random_state=1`; the lecture also passed `learning_rate_init=0.1`, which lbfgs
# ignores, and `verbose=10`, which we drop). Store its test accuracy in `mlp_accuracy`.
# (lbfgs does not converge in 100 iterations on these unscaled pixels, so the fit prints a
# `ConvergenceWarning`, "lbfgs failed to converge": expected here, keep `max_iter=100`.)

# %% [solution] id=mlp16
### BEGIN SOLUTION
mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, alpha=1e-4, solver="lbfgs",
                    random_state=1, learning_rate_init=0.1)
mlp.fit(X_train, y_train)
mlp_accuracy = mlp.score(X_test, y_test)
### END SOLUTION
mlp_accuracy

# %% [tests] id=test-mlp16 points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_value
check_fitted(mlp, "mlp")
check_value(list(np.atleast_1d(mlp.hidden_layer_sizes)), [16], "mlp.hidden_layer_sizes")
check_trained_on(mlp, X_train, y_train, X_test, y_test, name="mlp", refit=False)
check_model_metric(mlp, X_test, y_test, "accuracy", reported=mlp_accuracy, name="mlp", at_least=0.85)
### BEGIN HIDDEN TESTS
check_model_metric(mlp, X_test, y_test, "accuracy", expected={{ref:mlp_accuracy}}, name="mlp",
                   randomized=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: the SVM
# Train `svm_clf = svm.SVC(gamma=0.001)` and store its test accuracy in `svm_accuracy`.

# %% [solution] id=svm
### BEGIN SOLUTION
svm_clf = svm.SVC(gamma=0.001)
svm_clf.fit(X_train, y_train)
svm_accuracy = svm_clf.score(X_test, y_test)
### END SOLUTION
svm_accuracy

# %% [tests] id=test-svm points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric
check_fitted(svm_clf, "svm_clf")
check_trained_on(svm_clf, X_train, y_train, X_test, y_test, name="svm_clf")
check_model_metric(svm_clf, X_test, y_test, "accuracy", reported=svm_accuracy, name="svm_clf")
### BEGIN HIDDEN TESTS
check_model_metric(svm_clf, X_test, y_test, "accuracy", expected={{ref:svm_accuracy}}, name="svm_clf")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: how many numbers does each model store?
# The lecture counted the SVM's support-vector entries, `np.prod(svm_clf.support_vectors_.shape)`,
# and the MLP's weights, `np.sum([np.prod(c.shape) for c in mlp.coefs_])` (1184 = 64x16 + 16x10:
# **without the biases**). Write `mlp_n_params(model)` counting weights **and** biases
# (`coefs_` and `intercepts_`), and `svm_n_stored(model)` counting the support-vector entries.

# %% [solution] id=count
def mlp_n_params(model):
    ### BEGIN SOLUTION
    return int(sum(c.size for c in model.coefs_) + sum(b.size for b in model.intercepts_))
    ### END SOLUTION

def svm_n_stored(model):
    ### BEGIN SOLUTION
    return int(np.prod(model.support_vectors_.shape))
    ### END SOLUTION

mlp_n_params(mlp), svm_n_stored(svm_clf)

# %% [tests] id=test-count points=2
from nnwidgets.grading import check_value
check_value(mlp_n_params(mlp), 64 * 16 + 16 + 16 * 10 + 10, "mlp_n_params(mlp)",
            cause="count the biases (intercepts_) too: 1184 weights + 26 biases")
### BEGIN HIDDEN TESTS
check_value(svm_n_stored(svm_clf), svm_clf.support_vectors_.size, "svm_n_stored(svm_clf)")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 4: a wider MLP
# Train `mlp64` like `mlp` but with **64** hidden neurons; store its accuracy in `mlp64_accuracy`.

# %% [solution] id=mlp64
### BEGIN SOLUTION
mlp64 = MLPClassifier(hidden_layer_sizes=(64,), max_iter=100, alpha=1e-4, solver="lbfgs",
                      random_state=1, learning_rate_init=0.1)
mlp64.fit(X_train, y_train)
mlp64_accuracy = mlp64.score(X_test, y_test)
### END SOLUTION
mlp64_accuracy, mlp_n_params(mlp64)

# %% [tests] id=test-mlp64 points=1
from nnwidgets.grading import check_fitted, check_model_metric, check_value
check_fitted(mlp64, "mlp64")
check_value(mlp_n_params(mlp64), 64 * 64 + 64 + 64 * 10 + 10, "mlp_n_params(mlp64)")
check_model_metric(mlp64, X_test, y_test, "accuracy", reported=mlp64_accuracy, name="mlp64")
### BEGIN HIDDEN TESTS
check_model_metric(mlp64, X_test, y_test, "accuracy", expected={{ref:mlp64_accuracy}}, name="mlp64",
                   randomized=True)
### END HIDDEN TESTS

# %%
plt.bar(['MLP 16', 'MLP 64', 'SVM'], [mlp_n_params(mlp), mlp_n_params(mlp64), svm_n_stored(svm_clf)])
plt.ylabel('numbers stored by the model')
plt.title(f'accuracy: {mlp_accuracy:.3f} / {mlp64_accuracy:.3f} / {svm_accuracy:.3f}');

# %% [markdown]
# **Question.** Which model would you deploy on a small device, and why? Relate the number of
# stored parameters to model complexity.

# %% [answer] id=q-deploy points=1
# The 16-unit MLP: it stores ~1,200 parameters against tens of thousands of support-vector
# entries for the SVM, for a few points of accuracy less. The SVM stores training samples, so it
# grows with the data; the MLP's size is fixed by its architecture.

# %% [markdown]
# ## Questions after class (from the lecture)
# - *How does the model know to use functions such as sin(x), ln(x) or e^x as the fit becomes
#   more complex?* It does not learn an analytical form; it only approximates one.
# - *What is TensorFlow (or PyTorch) for, that scikit-learn cannot do?* More kinds of networks
#   and more training options; above all, optimized code that runs on GPUs and other hardware.
# - *What is a weight?* A coefficient: how much one input counts for a neuron.
# - *What is an artificial neuron?* One unit of calculation: a weighted sum of its inputs plus a
#   bias, passed through an activation function (e.g. one that squashes it into [0, 1]).
# - *What do the hidden layers represent?* Nothing specified up front; explanation and
#   visualization techniques can examine them after training.
# - *Is the best way to improve a network to add layers?* Not necessarily: search the
#   hyperparameters (e.g. with `GridSearchCV`), and other kinds of layers come later.
# - *Are the weights of the hidden layers random at first?* Typically yes: initialized randomly,
#   then learned.
