"""Jupyter widgets. They consume the trainer's callback events and plain result
objects and know nothing of magics. Each module imports ipywidgets/anywidget
itself, so importing this package stays light."""
