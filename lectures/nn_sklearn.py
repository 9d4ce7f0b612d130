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
from nnwidgets import Asker
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
v1 = load_v1_orientations()
plt.imshow(v1.neural_responses[:, :100], aspect='auto')
plt.xlabel('Neuron'); plt.ylabel('Grating Orientation (degrees)')
plt.title('SIMULATED V1: can you predict orientation based on activity of 23,589 neurons?');

# %%
Asker(id="analysis-v1",
      question="If your goal is to predict grating orientation based on neural activity in V1, what type of analysis will you do?",
      answers=["Regression", "Classification", "Clustering", "Dimensionality reduction"], correct=0)

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
