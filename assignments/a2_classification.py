# %% [meta]
# title: Assignment 2 - Classification with neural networks
# published.mice_svc_accuracy: 0.6832298136645962
# published.mice_best_C: 185.71428571428572
# published.mice_svc_best_accuracy: 1.0
# record.mice_svc_accuracy: mice_svc_accuracy
# record.mice_best_C: float(search.best_params_["C"])
# record.mice_svc_best_accuracy: test_accuracies[0]
# published.mice_mlp_accuracies: [0.9968944099378882, 0.9968944099378882, 0.984472049689441]
# record.mice_mlp_accuracies: test_accuracies[1:]
# record.svm_best_C: float(svm_search.best_params_["C"])

# %% [markdown]
# # Assignment 2: Classification with neural networks
#
# Part 1 decodes a mouse's left/right **choice** from the spiking of cortical neurons (Steinmetz
# et al. 2019; **SIMULATED** stand-in here, see `DESCR`; `source="neuromatch"` downloads the real
# session). Part 2 classifies mice from **protein expression** levels (Higuera et al. 2015; real
# data). Part 3 looks at the **learning rate**.
#
# `nnwidgets.MLPClassifier` and `nnwidgets.GridSearchCV` are drop-in replacements of
# scikit-learn's; the grid search trains all candidate networks of a fold together.

# %% [readonly] id=setup
import time
import numpy as np
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.svm import SVC
from nnwidgets import MLPClassifier
from nnwidgets.datasets import load_mouse_choice, load_mice_protein

# %% [markdown]
# ## Part 1: Mouse choice task
# A mouse turns a wheel to indicate whether it perceives a Gabor pattern on the left or right;
# spike rates of 691 cortical neurons are recorded on each of 276 trials.

# %% [readonly] id=load-choice
choice_data = load_mouse_choice()      # SIMULATED (choice_data.simulated is True)
spikes, choices = choice_data.spikes, choice_data.choices
print(choice_data.DESCR.splitlines()[0])
plt.figure(figsize=[15, 8])
plt.imshow(spikes, aspect='auto')
plt.xlabel('neuron'); plt.ylabel('trial')
plt.title("SIMULATED: can you use the spiking of 691 cortical neurons to predict the mouse's choice?")
spikes.shape, choices[:9]

# %% [markdown]
# **Question 1.** If your goal is to predict left/right choice based on neural activity in
# cortex, what type of analysis will you do? Set `analysis_choice` to `"regression"`,
# `"classification"`, `"clustering"` or `"dimensionality reduction"`.

# %% [solution] id=q-choice-analysis
### BEGIN SOLUTION
analysis_choice = "classification"
### END SOLUTION

# %% [tests] id=test-q-choice-analysis points=1
from nnwidgets.grading import check_answer
check_answer(analysis_choice, None, "type of analysis (choice)",
             ["regression", "classification", "clustering", "dimensionality reduction"])
### BEGIN HIDDEN TESTS
check_answer(analysis_choice, "classification", "type of analysis (choice)")
### END HIDDEN TESTS

# %% [readonly] id=split-choice
X = spikes
y = choices
X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.3, random_state=3)
X_train.shape, X_test.shape

# %% [markdown]
# ### Exercise 1: logistic regression
# Train `logr_model = LogisticRegression()` on the training set; store its test predictions in
# `logr_test_pred` and its test accuracy in `logr_test_accuracy`.

# %% [solution] id=logr
### BEGIN SOLUTION
logr_model = LogisticRegression()
logr_model.fit(X_train, y_train)
logr_test_pred = logr_model.predict(X_test)
logr_test_accuracy = accuracy_score(y_test, logr_test_pred)
### END SOLUTION
logr_test_accuracy

# %% [tests] id=test-logr points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric
check_fitted(logr_model, "logr_model")
check_trained_on(logr_model, X_train, y_train, X_test, y_test, name="logr_model")
check_model_metric(logr_model, X_test, y_test, "accuracy", reported=logr_test_accuracy, name="logr_model")
### BEGIN HIDDEN TESTS
check_model_metric(logr_model, X_test, y_test, "accuracy", expected={{ref:logr_test_accuracy}},
                   name="logr_model")
### END HIDDEN TESTS

# %% [readonly] id=netc-1x100
netc_1x100 = MLPClassifier(hidden_layer_sizes=[100], random_state=1, max_iter=10000)
netc_1x100.fit(X_train, y_train)
netc_1x100_test_accuracy = accuracy_score(y_test, netc_1x100.predict(X_test))
plt.plot(netc_1x100.loss_curve_)
plt.xlabel('Iteration'); plt.ylabel('Log-Loss'); plt.title('Training set (SIMULATED mouse-choice data)')
netc_1x100_test_accuracy

# %% [markdown]
# ### Exercise 2: a deeper network
# Use a neural network with 5 hidden layers of 100, 100, 30, 30 and 10 neurons (`random_state=1`,
# `max_iter=10000`) named `netc5`; store its test accuracy in `netc5_test_accuracy`.

# %% [solution] id=netc5
### BEGIN SOLUTION
netc5 = MLPClassifier(hidden_layer_sizes=[100, 100, 30, 30, 10], random_state=1, max_iter=10000)
netc5.fit(X_train, y_train)
netc5_test_pred = netc5.predict(X_test)
netc5_test_accuracy = accuracy_score(y_test, netc5_test_pred)
### END SOLUTION
netc5_test_accuracy

# %% [tests] id=test-netc5 points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_value
check_fitted(netc5, "netc5")
check_value(list(netc5.hidden_layer_sizes), [100, 100, 30, 30, 10], "netc5.hidden_layer_sizes")
check_trained_on(netc5, X_train, y_train, X_test, y_test, name="netc5")
check_model_metric(netc5, X_test, y_test, "accuracy", reported=netc5_test_accuracy, name="netc5")
### BEGIN HIDDEN TESTS
check_model_metric(netc5, X_test, y_test, "accuracy", expected={{ref:netc5_test_accuracy}},
                   name="netc5", randomized=True)
### END HIDDEN TESTS

# %% [markdown]
# Compare with a support vector machine, then tune the L2 penalty `alpha` of `netc5` and the
# misclassification penalty `C` of the SVM by 5-fold cross-validation. (The lecture tried 30
# values of alpha; we try 8, which keeps the search under a few seconds.)

# %% [readonly] id=svm-choice
from nnwidgets import GridSearchCV
svm = SVC(kernel='rbf').fit(X_train, y_train)
svm_test_accuracy = accuracy_score(y_test, svm.predict(X_test))
netc5_search = GridSearchCV(netc5, {'alpha': np.logspace(-5, -1, 8)}, cv=5, scoring='accuracy')
netc5_search.fit(X_train, y_train)
netc5_search.best_estimator_

# %% [markdown]
# ### Exercise 3: tune C
# Grid-search `C` of `SVC(kernel='rbf')` over `np.logspace(-1, 2, 30)` with 5-fold CV (use
# scikit-learn's or nnwidgets' `GridSearchCV`), store the search in `svm_search`, retrain the best
# model on the training set as `svm_reg`, and store its test accuracy in `svm_reg_test_accuracy`.

# %% [solution] id=svm-search
### BEGIN SOLUTION
svm_search = GridSearchCV(SVC(kernel='rbf'), {'C': np.logspace(-1, 2, 30)}, cv=5, scoring='accuracy')
svm_search.fit(X_train, y_train)
svm_reg = svm_search.best_estimator_
svm_reg.fit(X_train, y_train)
svm_reg_test_accuracy = accuracy_score(y_test, svm_reg.predict(X_test))
### END SOLUTION
svm_search.best_estimator_

# %% [tests] id=test-svm-search points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_value
check_fitted(svm_reg, "svm_reg")
check_value(len(svm_search.cv_results_['params']), 30, "number of C values searched")
check_trained_on(svm_reg, X_train, y_train, X_test, y_test, name="svm_reg")
check_model_metric(svm_reg, X_test, y_test, "accuracy", reported=svm_reg_test_accuracy, name="svm_reg")
### BEGIN HIDDEN TESTS
check_value(svm_search.best_params_['C'], {{ref:svm_best_C}}, "best C (cross-validated)", rtol=1e-9)
check_model_metric(svm_reg, X_test, y_test, "accuracy", expected={{ref:svm_reg_test_accuracy}},
                   name="svm_reg")
### END HIDDEN TESTS

# %%
netc5_reg = netc5_search.best_estimator_
netc5_reg_test_accuracy = accuracy_score(y_test, netc5_reg.predict(X_test))
plt.bar(['LogReg', '1x100', 'NN5', 'NN5 alpha', 'SVM', 'SVM C'],
        [logr_test_accuracy, netc_1x100_test_accuracy, netc5_test_accuracy, netc5_reg_test_accuracy,
         svm_test_accuracy, svm_reg_test_accuracy])
plt.ylabel('Accuracy'); plt.title('Test set (SIMULATED choice data)'); plt.ylim([0.5, 1]);

# %% [markdown]
# ## Part 2: Protein expression in the cortex of control and Down-syndrome mice
# Expression levels of 77 proteins in 8 classes of control and trisomic (Ts65Dn) mice, stimulated
# to learn or not, injected with saline or memantine (real data).

# %% [readonly] id=load-mice
mice = load_mice_protein().frame
miss_too_many = mice.isnull().sum() > 10
mice2 = mice.loc[:, ~miss_too_many]
mice3 = mice2.dropna()
X = mice3.loc[:, 'DYRK1A_N':'CaNA_N']   # just protein expression levels
y = mice3['class']
X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.3, random_state=3)
mice.shape, mice3.shape, X_train.shape

# %% [markdown]
# The missing measurements per column, as the lecture plotted them before throwing out the
# columns with more than 10 missing values and then the mice with any missing value:

# %%
mice.isnull().sum().plot.bar(figsize=(14, 3))
plt.ylabel('missing values'); plt.title('Missing measurements per column (mice protein data)');

# %% [readonly] id=mice-models
models = [
    SVC(kernel='rbf'),
    MLPClassifier(hidden_layer_sizes=[100], random_state=1, max_iter=10000),
    MLPClassifier(hidden_layer_sizes=[500], random_state=1, max_iter=10000),
    MLPClassifier(hidden_layer_sizes=[100, 100, 30, 30, 10], random_state=1, max_iter=10000),
]
test_accuracies = []
for model in models:
    model.fit(X_train, y_train)
    test_accuracies.append(accuracy_score(y_test, model.predict(X_test)))
mice_svc_accuracy = test_accuracies[0]
plt.bar(['SVM', '1x100', '1x500', 'NN5'], test_accuracies)
plt.ylabel('Accuracy'); plt.title('Test set'); plt.ylim([0.5, 1])
test_accuracies

# %% [markdown]
# ### Exercise 4: tune the SVC's C on the protein data
# Optimize `C` over `np.linspace(100, 300, 50)` with 5-fold CV (`search`, a `GridSearchCV`), retrain
# `search.best_estimator_` on the training set, and replace the SVM's entries: `models[0]` and
# `test_accuracies[0]`.

# %% [solution] id=mice-search
### BEGIN SOLUTION
search = GridSearchCV(SVC(kernel='rbf'), {'C': np.linspace(100, 300, 50)}, cv=5, scoring='accuracy')
search.fit(X_train, y_train)
model = search.best_estimator_
model.fit(X_train, y_train)
models[0] = model
test_accuracies[0] = accuracy_score(y_test, model.predict(X_test))
### END SOLUTION
search.best_estimator_

# %% [tests] id=test-mice-search points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_value
check_value(len(search.cv_results_['params']), 50, "number of C values searched")
check_value(models[0].C, search.best_params_['C'], "models[0].C (the best C of the search)",
            cause="replace models[0] with search.best_estimator_, retrained on the training set")
check_fitted(models[0], "models[0]")
check_trained_on(models[0], X_train, y_train, X_test, y_test, name="models[0]")
check_model_metric(models[0], X_test, y_test, "accuracy", reported=test_accuracies[0], name="models[0]")
### BEGIN HIDDEN TESTS
# the lecture's published figures (SVC and its grid search are deterministic)
check_value(search.best_params_['C'], {{published:mice_best_C}}, "best C", rtol=1e-12)
check_model_metric(models[0], X_test, y_test, "accuracy", expected={{published:mice_svc_best_accuracy}},
                   name="models[0]")
check_value(mice_svc_accuracy, {{published:mice_svc_accuracy}}, "accuracy of the untuned SVC", rtol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# **Question 2.** Now that you can implement a simple feed forward neural network, should you
# ignore everything else we covered this semester? Use the results above.

# %% [answer] id=q-ignore points=1
# No. The tuned SVM (accuracy 1.0) beats every network on the protein data, and on the choice data
# logistic regression is as good as the networks. Networks shine with large, complex data sets;
# always compare with simpler methods.

# %% [markdown]
# ## Part 3: Learning rate
# Too small: the model takes forever to converge. Too large: the weights bounce all over the place.
# Fit `MLPClassifier(hidden_layer_sizes=[100], learning_rate_init=lr, random_state=1,
# max_iter=10000)` on the protein training set for each `lr` in `[1e-6, 1e-3, 1, 1e6]` (as the
# lecture did; `lr=1e6` warns that training diverged) and store
# `lr_results[lr] = (seconds, n_iter_, test accuracy)`; plot the loss curves. The lecture timed
# the fits with `%timeit`: 5.12 s for 1e-6, 2.26 s for 1e-3 and 83 ms for 1 (scikit-learn).

# %% [solution] id=learning-rates
lr_results = {}
for lr in [1e-6, 1e-3, 1, 1e6]:
    ### BEGIN SOLUTION
    start = time.perf_counter()
    net = MLPClassifier(hidden_layer_sizes=[100], learning_rate_init=lr, random_state=1, max_iter=10000)
    net.fit(X_train, y_train)
    lr_results[lr] = (time.perf_counter() - start, net.n_iter_, accuracy_score(y_test, net.predict(X_test)))
    plt.plot(net.loss_curve_, label=f'lr={lr:g}')
    ### END SOLUTION
plt.yscale('log'); plt.xlabel('Iteration'); plt.ylabel('Loss'); plt.legend()
lr_results

# %% [tests] id=test-learning-rates points=2
from nnwidgets.grading import check_value
check_value(sorted(lr_results), [1e-6, 1e-3, 1, 1e6], "learning rates tried")
### BEGIN HIDDEN TESTS
check_value(lr_results[1e-3][2] > 0.8, True, "lr=1e-3 learns the protein classes (accuracy > 0.8)")
check_value(lr_results[1e-6][1] > lr_results[1e-3][1], True, "lr=1e-6 needs more iterations than lr=1e-3")
check_value(lr_results[1e-6][2] < lr_results[1e-3][2], True, "lr=1e-6 stops (its steps are below tol) far from a good model")
check_value(lr_results[1e6][2] < 0.5, True, "lr=1e6 diverges (accuracy near chance)")
### END HIDDEN TESTS

# %% [markdown]
# **Question 3.** Which learning rate would you use, and what happened with the largest one?

# %% [answer] id=q-lr points=1
# 1e-3 (Adam's default): 916 iterations to an accuracy of about 0.997. 1e-6 is the slowest
# fit (2,401 iterations, the longest time, as in the lecture) and still useless: each step
# improves the loss by less than `tol`, so training stops at chance level. 1 is fast (44
# iterations) but bounces and settles on a poor model; with 1e6 the loss blows up at once
# (training diverges) and the predictions are no better than chance.
