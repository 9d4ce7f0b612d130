# %% [meta]
# title: Lecture - Neural networks with scikit-learn (regression and classification)

# %% [markdown]
# # Neural Network (NN): regression and classification with scikit-learn
#
# The quiz questions of the lecture are `Asker` widgets. The V1 and mouse-choice recordings are
# **SIMULATED** stand-ins here (the real ones are not redistributable; pass
# `source="neuromatch"` to download them).

# %%
import numpy as np
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error
from nnwidgets import Asker, MLPRegressor
from nnwidgets.datasets import load_diabetes, load_v1_orientations, load_mouse_choice

# %% [markdown]
# ## Diabetes score as a function of 10 other measures in human patients

# %%
df = load_diabetes().frame
df

# %%
Asker(id="analysis-diabetes",
      question="If your goal is to predict diabetes scores based on other measurements in patients, what type of analysis will you do?",
      answers=["Regression", "Classification", "Clustering", "Dimensionality reduction"], correct=0)

# %% [markdown]
# What can you conclude about the neural network in relation to the simple linear regression?
# (Assignment 1 works through the models.)
#
# ## Mouse V1 activity in response to gratings of varying orientation (SIMULATED)

# %%
v1 = load_v1_orientations()          # SIMULATED (v1.simulated is True; see v1.DESCR)
neural_responses = v1.neural_responses
grating_orientations = v1.grating_orientations
neural_responses.shape, grating_orientations.shape

# %%
plt.imshow(neural_responses[:, :100], aspect='auto')
plt.xlabel('Neuron'); plt.ylabel('Grating Orientation (degrees)')
plt.title('SIMULATED V1: can you predict orientation based on activity of 23,589 neurons?');

# %%
Asker(id="analysis-v1",
      question="If your goal is to predict grating orientation based on neural activity in V1, what type of analysis will you do?",
      answers=["Regression", "Classification", "Clustering", "Dimensionality reduction"], correct=0)

# %% [markdown]
# The lecture's V1 models follow, with the lecture's code (`MLPRegressor` is imported from
# nnwidgets instead of scikit-learn: same arguments, trained with PyTorch in float32), on the
# **SIMULATED** data, so the errors are not the lecture's. Assignment 1 grades the lecture's
# exercise (three hidden layers of 100 neurons).
#
# Split the data into training and testing sets.

# %%
X = neural_responses
y = grating_orientations
X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=True, test_size=0.4, random_state=3)
X_train.shape, X_test.shape, y_train.shape, y_test.shape

# %% [markdown]
# Train a linear regression model to predict the grating orientation based on the mouse's
# neural activity.

# %%
# train a linear regression model on the training set
lr_v1_model = LinearRegression()
lr_v1_model.fit(X_train, y_train)
# eval model's test error
lr_v1_test_pred = lr_v1_model.predict(X_test)
lr_v1_test_MSE = mean_squared_error(y_test, lr_v1_test_pred)

# %% [markdown]
# Train a neural network to predict the grating orientation based on the mouse's neural
# activity.

# %%
# neural network
# 1 hidden layer of 100 neurons
# 1 output layer for regression
net_v1_1x100 = MLPRegressor(hidden_layer_sizes=[100], random_state=1, max_iter=1000)
# train model on the training set
net_v1_1x100.fit(X_train, y_train)
# eval model's test error
net_v1_1x100_test_pred = net_v1_1x100.predict(X_test)
net_v1_1x100_test_MSE = mean_squared_error(y_test, net_v1_1x100_test_pred)

# %% [markdown]
# Visualize the training of the neural network.

# %%
plt.plot(net_v1_1x100.loss_curve_)
plt.xlabel('Iteration')
plt.ylabel('Loss (Squared Error)')
plt.title('Training set (SIMULATED V1 data)');

# %% [markdown]
# Visualize the regression.

# %%
plt.figure(figsize=[12,6])
plt.subplot(1, 2, 1)
plt.plot(lr_v1_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_v1_1x100_test_pred, y_test, 'o', label='neural net 1x100')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Grating Orientation')
plt.ylabel('True Grating Orientation')
plt.title('Test set (SIMULATED V1 data)')
plt.legend();
plt.subplot(1, 2, 2)
plt.bar(['LR', 'NN 1x100'],
        [lr_v1_test_MSE, net_v1_1x100_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data');

# %% [markdown]
# What if we add more neurons?
#
# (23,589 inputs x 1,000 hidden neurons: 23.6 million weights. With the lecture's
# `max_iter=10000` this network trains in about 20 seconds on an idle 2-core CPU, the slowest
# cell of this notebook (twice that on a busy one). `max_iter` is only a cap: training stops
# after about 80 iterations, when the loss has not improved for 10 of them, so a smaller cap
# would not make it faster, only change the result; the lecture's setting is kept.)

# %%
# neural network
# 1 hidden layer of 1000 neurons
# 1 output layer for regression
net_v1_1x1000 = MLPRegressor(hidden_layer_sizes=[1000], random_state=1, max_iter=10000)
# train model on the training set
net_v1_1x1000.fit(X_train, y_train)
# eval model's test error
net_v1_1x1000_test_pred = net_v1_1x1000.predict(X_test)
net_v1_1x1000_test_MSE = mean_squared_error(y_test, net_v1_1x1000_test_pred)

# %% [markdown]
# Visualize the regression.

# %%
plt.figure(figsize=[12,6])
plt.subplot(1, 2, 1)
plt.plot(lr_v1_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_v1_1x1000_test_pred, y_test, 'o', label='neural net 1x1000')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Grating Orientation')
plt.ylabel('True Grating Orientation')
plt.title('Test set (SIMULATED V1 data)')
plt.legend();
plt.subplot(1, 2, 2)
plt.bar(['LR', 'NN 1x100', 'NN 1x1000'],
        [lr_v1_test_MSE, net_v1_1x100_test_MSE, net_v1_1x1000_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data');

# %% [markdown]
# On the simulated data the wider network does *worse* than the 1x100 one: its training loss
# bottoms out after some 70 iterations and then rises, so training stops early without
# fitting the training set (training MSE about 90, where the 1x100 network reaches about 0).
# More neurons do not guarantee a better fit.

# %% [markdown]
# ### Exercise
# Use a neural network with three hidden layers of 100 neurons to predict grating orientation
# based on neural activity in V1. (Assignment 1, exercise 3, grades this exercise.)
#
# ### Exercise key

# %%
# neural network
# 3 hidden layers of 100 neurons
# 1 output layer for regression
net_v1_3x100 = MLPRegressor(hidden_layer_sizes=[100]*3, random_state=1, max_iter=10000)
# train model on the training set
net_v1_3x100.fit(X_train, y_train)
# eval model's test error
net_v1_3x100_test_pred = net_v1_3x100.predict(X_test)
net_v1_3x100_test_MSE = mean_squared_error(y_test, net_v1_3x100_test_pred)

# %% [markdown]
# Visualize the regression.

# %%
plt.figure(figsize=[12,6])
plt.subplot(1, 2, 1)
plt.plot(lr_v1_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_v1_3x100_test_pred, y_test, 'o', label='neural net 3x100')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Grating Orientation')
plt.ylabel('True Grating Orientation')
plt.title('Test set (SIMULATED V1 data)')
plt.legend();
plt.subplot(1, 2, 2)
plt.bar(['LR', '1x100', '1x1000', '3x100'],
        [lr_v1_test_MSE, net_v1_1x100_test_MSE, net_v1_1x1000_test_MSE, net_v1_3x100_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data');

# %% [markdown]
# What if we add even more layers?

# %%
# neural network
# 10 hidden layers of 100 neurons
# 1 output layer for regression
net_v1_10x100 = MLPRegressor(hidden_layer_sizes=[100]*10, random_state=1, max_iter=10000)
# train model on the training set
net_v1_10x100.fit(X_train, y_train)
# eval model's test error
net_v1_10x100_test_pred = net_v1_10x100.predict(X_test)
net_v1_10x100_test_MSE = mean_squared_error(y_test, net_v1_10x100_test_pred)

# %% [markdown]
# Visualize the regression.

# %%
plt.figure(figsize=[12,6])
plt.subplot(1, 2, 1)
plt.plot(lr_v1_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_v1_10x100_test_pred, y_test, 'o', label='neural net 10x100')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Grating Orientation')
plt.ylabel('True Grating Orientation')
plt.title('Test set (SIMULATED V1 data)')
plt.legend();
plt.subplot(1, 2, 2)
plt.bar(['LR', '1x100', '1x1000', '3x100', '10x100'],
        [lr_v1_test_MSE, net_v1_1x100_test_MSE, net_v1_1x1000_test_MSE,
         net_v1_3x100_test_MSE, net_v1_10x100_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data');

# %% [markdown]
# One last attempt with multiple layers with more neurons?

# %%
# neural network
# 3 hidden layers of 300 neurons
# 1 output layer for regression
net_v1_3x300 = MLPRegressor(hidden_layer_sizes=[300]*3, random_state=1, max_iter=10000)
# train model on the training set
net_v1_3x300.fit(X_train, y_train)
# eval model's test error
net_v1_3x300_test_pred = net_v1_3x300.predict(X_test)
net_v1_3x300_test_MSE = mean_squared_error(y_test, net_v1_3x300_test_pred)

# %% [markdown]
# Visualize the regression.

# %%
plt.figure(figsize=[12,6])
plt.subplot(1, 2, 1)
plt.plot(lr_v1_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_v1_3x300_test_pred, y_test, 'o', label='neural net 3x300')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Grating Orientation')
plt.ylabel('True Grating Orientation')
plt.title('Test set (SIMULATED V1 data)')
plt.legend();
plt.subplot(1, 2, 2)
plt.bar(['LR', '1x100', '1x1000', '3x100', '10x100', '3x300'],
        [lr_v1_test_MSE, net_v1_1x100_test_MSE, net_v1_1x1000_test_MSE,
         net_v1_3x100_test_MSE, net_v1_10x100_test_MSE, net_v1_3x300_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data');

# %% [markdown]
# We've actually been using L2 regularization for our neural networks the whole time. See the
# `alpha` parameter in the docs:
# https://scikit-learn.org/stable/modules/generated/sklearn.neural_network.MLPRegressor.html
#
# Since we didn't do any regularization for the linear model (that would be a Ridge
# regularization model), let's remove the regularization to compare apples to apples.

# %%
# neural network without L2 regularization (alpha=0)
# 3 hidden layers of 100 neurons
# 1 output layer for regression
net_v1_3x100_noreg = MLPRegressor(hidden_layer_sizes=[100]*3, random_state=1, max_iter=10000, alpha=0)
# train model on the training set
net_v1_3x100_noreg.fit(X_train, y_train)
# eval model's test error
net_v1_3x100_noreg_test_pred = net_v1_3x100_noreg.predict(X_test)
net_v1_3x100_noreg_test_MSE = mean_squared_error(y_test, net_v1_3x100_noreg_test_pred)

# %% [markdown]
# In this case, the default regularization did not make much difference.

# %%
plt.figure(figsize=[12,6])
plt.subplot(1, 2, 1)
plt.plot(lr_v1_test_pred, y_test, 'o', label='linear regression')
plt.plot(net_v1_3x100_noreg_test_pred, y_test, 'o', label='neural net 3x100 L2=0')
plt.plot(y_test, y_test, 'k-', label='perfect')
plt.xlabel('Predicted Grating Orientation')
plt.ylabel('True Grating Orientation')
plt.title('Test set (SIMULATED V1 data)')
plt.legend();
plt.subplot(1, 2, 2)
plt.bar(['LR', '3x100', '3x100 L2=0'],
        [lr_v1_test_MSE, net_v1_3x100_test_MSE, net_v1_3x100_noreg_test_MSE])
plt.ylabel('Test MSE')
plt.title('SIMULATED V1 data');

# %% [markdown]
# ## Mouse choice task (SIMULATED)

# %%
choice = load_mouse_choice()
plt.figure(figsize=[15, 8])
plt.imshow(choice.spikes, aspect='auto')
plt.xlabel('neuron'); plt.ylabel('trial')
plt.title("SIMULATED: can you use the spiking of 691 cortical neurons to predict the mouse's choice?");

# %%
Asker(id="analysis-choice",
      question="If your goal is to predict left/right choice based on neural activity in cortex, what type of analysis will you do?",
      answers=["Regression", "Classification", "Clustering", "Dimensionality reduction"], correct=1)

# %% [markdown]
# ## How to decide on the structure of your neural network?
# * **Input layer**: as many neurons as the size of your input samples (`MLPRegressor` /
#   `MLPClassifier` size it from the training data).
# * **Output layer**: one neuron for regression of a single target; one per class (softmax) for
#   classification.
# * **Hidden layers**: no a-priori correct choice; look at the literature; rules of thumb: about as
#   many hidden neurons as inputs plus outputs; adding neurons is cheaper than adding layers; 1-2 or
#   3-5 layers work in many cases.
#
# ## When to use a neural network?
# They are NOT guaranteed to beat other methods; they shine with large amounts of complex data.
# Always compare with several other approaches.
