"""The PyTorch trainer: scikit-learn-compatible MLP estimators, training of
custom ``nn.Module``s and batched training of many models at once.

This package knows nothing of widgets, IPython or magics: it reports progress
through :mod:`nnwidgets.trainer.events` callbacks and returns plain objects.
"""
