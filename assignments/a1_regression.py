# %% [meta]
# title: Assignment 1 - Regression with neural networks
# published.lr_first_pred: 97.61320682
# published.net_1x100_first_pred: 104.18836831
# record.lr_first_pred: float(lr_test_pred[0])

# %% [markdown]
# # Assignment 1: Regression with neural networks
#
# You will predict **diabetes progression** from 10 clinical measurements, then the
# **orientation of a grating** from the activity of mouse V1 neurons, with linear
# regression and with multi-layer perceptrons.
#
# * Fill in every cell marked `# YOUR CODE HERE` (remove the `raise NotImplementedError()`).
# * Answer the questions in the cells that say `YOUR ANSWER HERE`.
# * The cells with `assert`/`check_...` are the autograder's tests: run them to check your
#   work. Hidden tests compare your results with the instructor's reference.
# * Before submitting: *Kernel > Restart & Run All*.
#
# `nnwidgets.MLPRegressor` is a drop-in replacement of scikit-learn's `MLPRegressor`
# (same arguments, same fitted attributes such as `loss_curve_`) that trains with PyTorch,
# so the lecture's code runs faster. The V1 recordings are **simulated** here (see below).

# %% [readonly] id=setup
import numpy as np
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.metrics import mean_squared_error
from nnwidgets import MLPRegressor
from nnwidgets.datasets import load_diabetes, load_v1_orientations

plt.rcParams['figure.figsize'] = [8, 6]

# %% [markdown]
# ## Part 1: Diabetes score as a function of 10 other measures
#
# Measures of various features and diabetes disease progression (`DIS`) for 442 patients
# (https://www4.stat.ncsu.edu/~boos/var.select/diabetes.tab.txt; scikit-learn's raw copy).

# %% [readonly] id=load-diabetes
df = load_diabetes().frame
df

# %% [markdown]
# **Question 1.** If your goal is to predict diabetes scores based on other measurements in
# patients, what type of analysis will you do? Set `analysis_diabetes` to one of
# `"regression"`, `"classification"`, `"clustering"`, `"dimensionality reduction"`.

# %% [solution] id=q-diabetes-analysis
### BEGIN SOLUTION
analysis_diabetes = "regression"
### END SOLUTION

# %% [tests] id=test-q-diabetes-analysis points=1
from nnwidgets.grading import check_answer
CHOICES = ["regression", "classification", "clustering", "dimensionality reduction"]
check_answer(analysis_diabetes, None, "type of analysis (diabetes)", CHOICES)
### BEGIN HIDDEN TESTS
check_answer(analysis_diabetes, "regression", "type of analysis (diabetes)", CHOICES)
### END HIDDEN TESTS

# %% [markdown]
# Extract feature and target variables, and split the dataset into training and testing
# sets. You'll train your models on the training set and evaluate their error on the
# testing set.

# %% [readonly] id=split-diabetes
X = df.loc[:, 'AGE':'GLU']
y = df['DIS']
X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.4, random_state=3)
X_train.shape, X_test.shape, y_train.shape, y_test.shape

# %% [markdown]
# ### Exercise 1: linear regression
# Use simple linear regression to predict the diabetes score from the 10 other measures.
# Store the fitted model in `lr_model`, its test-set predictions in `lr_test_pred` and the
# test mean squared error in `lr_test_MSE`.

# %% [solution] id=lr
from sklearn.linear_model import LinearRegression
# train a linear regression model on the training set
# eval model's test error
### BEGIN SOLUTION
lr_model = LinearRegression()
lr_model.fit(X_train, y_train)
lr_test_pred = lr_model.predict(X_test)
lr_test_MSE = mean_squared_error(y_test, lr_test_pred)
### END SOLUTION
# diabetes score prediction for the first patient in the testing set
lr_model.predict(X_test[:1])

# %% [tests] id=test-lr points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_array
check_fitted(lr_model, "lr_model")
check_trained_on(lr_model, X_train, y_train, X_test, y_test, name="lr_model")
check_array(lr_test_pred, lr_model.predict(X_test), "lr_test_pred (predictions of lr_model on X_test)")
check_model_metric(lr_model, X_test, y_test, "mse", reported=lr_test_MSE, name="lr_model")
### BEGIN HIDDEN TESTS
# the lecture's published first prediction (least squares is deterministic)
check_array(lr_model.predict(X_test[:1]), [{{published:lr_first_pred}}], "first test prediction",
            rtol=1e-8)
check_model_metric(lr_model, X_test, y_test, "mse", expected={{ref:lr_test_MSE}}, name="lr_model")
### END HIDDEN TESTS

# %% [markdown]
# Visualize the regression.

# %%
plt.figure(figsize=[12, 6])
plt.subplot(1, 2, 1)
plt.plot(lr_test_pred, y_test, 'o', label='linear regression')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Diabetes Score')
plt.ylabel('True Diabetes Score')
plt.title('Test set')
plt.legend()
plt.subplot(1, 2, 2)
plt.bar(['LR'], [lr_test_MSE])
plt.ylabel('Test MSE');

# %% [markdown]
# Now let's use a neural network for this regression: one hidden layer of 100 neurons and
# one output neuron for the single target variable.

# %% [readonly] id=net-1x100
net_1x100 = MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=1000)
net_1x100.fit(X_train, y_train)
net_1x100_test_pred = net_1x100.predict(X_test)
net_1x100_test_MSE = mean_squared_error(y_test, net_1x100_test_pred)
net_1x100.predict(X_test[:1])

# %% [markdown]
# The lecture's scikit-learn network predicted 104.18836831 for this patient. nnwidgets'
# `MLPRegressor` trains in float32 by default and gives about 104.178: the same network to
# four digits. Pass `dtype="float64"` to reproduce scikit-learn's number exactly.
#
# Visualize the training of the neural network, then compare the training and testing errors
# of both models. (The lecture's cell used an undefined `net` here; it is `net_1x100`.)

# %%
plt.plot(net_1x100.loss_curve_)
plt.xlabel('Iteration')
plt.ylabel('Loss (Squared Error)')
plt.title('Training set');

# %%
lr_train_MSE = mean_squared_error(y_train, lr_model.predict(X_train))
net_1x100_train_MSE = mean_squared_error(y_train, net_1x100.predict(X_train))
plt.figure(figsize=[12, 6])
plt.subplot(1, 2, 1)
plt.bar(['LR', 'NN 1x100'], [lr_train_MSE, net_1x100_train_MSE])
plt.ylabel('Train MSE')
plt.title('Training Error')
plt.subplot(1, 2, 2)
plt.bar(['LR', 'NN 1x100'], [lr_test_MSE, net_1x100_test_MSE])
plt.ylabel('Test MSE')
plt.title('Testing Error');

# %% [markdown]
# **Question 2.** What can you conclude about the neural network in relation to the simple
# linear regression? (Compare training and testing errors.)

# %% [answer] id=q-nn-vs-lr points=1
# The neural network is no better than the linear model, on either error: here its
# training MSE is about 3,100 against 2,790 for linear regression, and its test MSE about
# 3,320 against 3,010. With 265 patients and 10 features the extra flexibility buys nothing
# (1,000 iterations of adam do not even reach the least-squares fit on the training set),
# and a linear model is simpler and easier to interpret.

# %% [markdown]
# ### Exercise 2: a wide network
# Use a neural network with a single hidden layer of **5,000** neurons (`random_state=1`,
# `max_iter=10000`). Store it in `net_1x5000`, its test predictions in `net_1x5000_test_pred`
# and its test MSE in `net_1x5000_test_MSE`.

# %% [solution] id=net-1x5000
# neural network: 1 hidden layer of 5000 neurons, 1 output for the single target variable
### BEGIN SOLUTION
net_1x5000 = MLPRegressor(hidden_layer_sizes=[5000], random_state=1, max_iter=10000)
net_1x5000.fit(X_train, y_train)
net_1x5000_test_pred = net_1x5000.predict(X_test)
net_1x5000_test_MSE = mean_squared_error(y_test, net_1x5000_test_pred)
### END SOLUTION

# %% [tests] id=test-net-1x5000 points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_value
check_fitted(net_1x5000, "net_1x5000")
check_value(list(net_1x5000.hidden_layer_sizes), [5000], "net_1x5000.hidden_layer_sizes")
check_trained_on(net_1x5000, X_train, y_train, X_test, y_test, name="net_1x5000")
check_model_metric(net_1x5000, X_test, y_test, "mse", reported=net_1x5000_test_MSE, name="net_1x5000")
### BEGIN HIDDEN TESTS
check_model_metric(net_1x5000, X_test, y_test, "mse", expected={{ref:net_1x5000_test_MSE}},
                   name="net_1x5000", randomized=True)
### END HIDDEN TESTS

# %% [markdown]
# What if we add more layers? 5 hidden layers of 30 neurons each:

# %%
net_5x30 = MLPRegressor(hidden_layer_sizes=[30, 30, 30, 30, 30], random_state=1, max_iter=10000)
net_5x30.fit(X_train, y_train)
net_5x30_test_pred = net_5x30.predict(X_test)
net_5x30_test_MSE = mean_squared_error(y_test, net_5x30_test_pred)

# %% [markdown]
# And even more layers: the lecture trained 10 hidden layers of **1000** neurons (10 million
# weights) for up to 10,000 iterations, which takes scikit-learn many minutes on a laptop
# CPU (nnwidgets about 20 seconds: try it after the assignment). To keep grading quick we keep
# its point with 10 hidden layers of **100** neurons and at most 100 iterations: many more
# parameters than patients do not give a better test error. (Capping the iterations makes
# scikit-learn print a `ConvergenceWarning`, "Maximum iterations reached": expected here.)

# %%
net_10x100 = MLPRegressor(hidden_layer_sizes=[100] * 10, random_state=1, max_iter=100)
net_10x100.fit(X_train, y_train)
net_10x100_test_pred = net_10x100.predict(X_test)
net_10x100_test_MSE = mean_squared_error(y_test, net_10x100_test_pred)

# %%
plt.figure(figsize=[12, 6])
plt.subplot(1, 2, 1)
plt.plot(lr_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_5x30_test_pred, y_test, 'o', label='neural net 5x30')
plt.plot(net_10x100_test_pred, y_test, 'o', label='neural net 10x100')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Diabetes Score')
plt.ylabel('True Diabetes Score')
plt.title('Test set')
plt.legend()
plt.subplot(1, 2, 2)
plt.bar(['LR', '1x100', '1x5000', '5x30', '10x100'],
        [lr_test_MSE, net_1x100_test_MSE, net_1x5000_test_MSE, net_5x30_test_MSE, net_10x100_test_MSE])
plt.ylabel('Test MSE');

# %% [markdown]
# ## Part 2: Mouse V1 activity in response to gratings of varying orientation
#
# Stringer et al. (2019) recorded the calcium responses of 23,589 V1 neurons to gratings of
# orientations 0-360 degrees (normalized, z-scored, averaged per degree; Neuromatch Academy).
# That recording is not redistributable here, so this assignment uses a **SIMULATED**
# stand-in with the same shape (von Mises tuning curves + noise; see `DESCR`). With internet
# access, `load_v1_orientations(source="neuromatch")` downloads the real data.
#
# We decode from all 23,589 (simulated) neurons, as the lecture does: nnwidgets' MLPs train
# each of these networks in a few seconds on a CPU.

# %% [readonly] id=load-v1
v1 = load_v1_orientations()          # simulated (v1.simulated is True)
neural_responses = v1.neural_responses
grating_orientations = v1.grating_orientations
print(v1.DESCR.splitlines()[0])
neural_responses.shape, grating_orientations.shape

# %%
plt.imshow(neural_responses[:, :100], aspect='auto')
plt.xlabel('Neuron')
plt.ylabel('Grating Orientation (degrees)')
plt.title('SIMULATED V1: can you predict orientation from the activity of 23,589 neurons?');

# %%
plt.plot(grating_orientations, neural_responses[:, 3])
plt.xlabel('Grating Orientation (degrees)')
plt.ylabel('Activity (simulated)')
plt.title('Tuning curve for the 4th neuron (SIMULATED)');

# %%
plt.plot(grating_orientations, neural_responses[:, 10000])
plt.xlabel('Grating Orientation (degrees)')
plt.ylabel('Activity (simulated)')
plt.title('Tuning curve for the 10,001st neuron (SIMULATED)');

# %% [markdown]
# **Question 3.** If your goal is to predict grating orientation based on neural activity in
# V1, what type of analysis will you do? Set `analysis_v1` to one of the four choices of
# question 1.

# %% [solution] id=q-v1-analysis
### BEGIN SOLUTION
analysis_v1 = "regression"
### END SOLUTION

# %% [tests] id=test-q-v1-analysis points=1
from nnwidgets.grading import check_answer
CHOICES = ["regression", "classification", "clustering", "dimensionality reduction"]
check_answer(analysis_v1, None, "type of analysis (V1)", CHOICES)
### BEGIN HIDDEN TESTS
check_answer(analysis_v1, "regression", "type of analysis (V1)", CHOICES)
### END HIDDEN TESTS

# %% [readonly] id=split-v1
X = neural_responses
y = grating_orientations
X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.4, random_state=3)
lr_v1_model = LinearRegression().fit(X_train, y_train)
lr_v1_test_pred = lr_v1_model.predict(X_test)
lr_v1_test_MSE = mean_squared_error(y_test, lr_v1_test_pred)
net_v1_1x100 = MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=1000).fit(X_train, y_train)
net_v1_1x100_test_pred = net_v1_1x100.predict(X_test)
net_v1_1x100_test_MSE = mean_squared_error(y_test, net_v1_1x100_test_pred)
X_train.shape, X_test.shape

# %% [markdown]
# ### Exercise 3: a deeper network for V1
# Use a neural network with **three hidden layers of 100 neurons** (`random_state=1`,
# `max_iter=10000`) to predict the grating orientation. Store `net_v1_3x100`, `net_v1_3x100_test_pred` and `net_v1_3x100_test_MSE`.

# %% [solution] id=net-v1-3x100
### BEGIN SOLUTION
net_v1_3x100 = MLPRegressor(hidden_layer_sizes=[100] * 3, random_state=1, max_iter=10000)
net_v1_3x100.fit(X_train, y_train)
net_v1_3x100_test_pred = net_v1_3x100.predict(X_test)
net_v1_3x100_test_MSE = mean_squared_error(y_test, net_v1_3x100_test_pred)
### END SOLUTION

# %% [tests] id=test-net-v1-3x100 points=2
from nnwidgets.grading import check_fitted, check_trained_on, check_model_metric, check_value
check_fitted(net_v1_3x100, "net_v1_3x100")
check_value(list(net_v1_3x100.hidden_layer_sizes), [100, 100, 100], "net_v1_3x100.hidden_layer_sizes")
check_trained_on(net_v1_3x100, X_train, y_train, X_test, y_test, name="net_v1_3x100")
check_model_metric(net_v1_3x100, X_test, y_test, "mse", reported=net_v1_3x100_test_MSE, name="net_v1_3x100")
### BEGIN HIDDEN TESTS
check_model_metric(net_v1_3x100, X_test, y_test, "mse", expected={{ref:net_v1_3x100_test_MSE}},
                   name="net_v1_3x100", randomized=True)
### END HIDDEN TESTS

# %% [markdown]
# We've actually been using L2 regularization for our networks the whole time (the `alpha`
# parameter). The linear model had none, so remove it to compare apples to apples:

# %%
net_v1_3x100_noreg = MLPRegressor(hidden_layer_sizes=[100] * 3, random_state=1, max_iter=10000, alpha=0)
net_v1_3x100_noreg.fit(X_train, y_train)
net_v1_3x100_noreg_test_MSE = mean_squared_error(y_test, net_v1_3x100_noreg.predict(X_test))

plt.bar(['LR', '1x100', '3x100', '3x100 L2=0'],
        [lr_v1_test_MSE, net_v1_1x100_test_MSE, net_v1_3x100_test_MSE, net_v1_3x100_noreg_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data: test error');

# %% [markdown]
# **Question 4.** Did adding layers, or removing the L2 penalty, change the test error much?
# What does the gap between training and testing error tell you about these networks on
# 216 training stimuli?

# %% [answer] id=q-v1-layers points=1
# Adding layers helped, removing the penalty did not (numbers from the SIMULATED V1 data):
# the 3x100 network's test MSE is about 970 against 1,550 for the 1x100 one and 1,760 for
# linear regression, all far below the variance of the orientations (about 10,500, the
# error of always guessing the mean), and without the L2 penalty it is about the same
# (960), as in the lecture. But every model fits the 216 training stimuli exactly (training
# MSE about 0): with 23,589 neurons and 216 stimuli they can memorize, so the whole gap
# between training and test error is overfitting. Much of the
# remaining test error comes from a few gratings near 0/359 degrees, where a small angular
# error is a huge error in degrees because orientation is circular; more data, or predicting
# (cos, sin) of the angle instead of degrees, would help more than more layers.
