"""The class-quiz response service: storage, REST API, Jupyter server extension.

No UI code lives here except the instructor dashboard's served HTML/JS assets;
the student widget is :class:`nnwidgets.widgets.asker.Asker`.

- :mod:`nnwidgets.quiz.store`: SQLite / PostgreSQL storage (``open_store``).
- :mod:`nnwidgets.quiz.server`: the tornado REST API and dashboard (``make_app``).
- :mod:`nnwidgets.quiz.serverext`: the same API inside a Jupyter server.
- :mod:`nnwidgets.quiz.client`: a small blocking client (kernel side, CLI, tests).
- :mod:`nnwidgets.quiz.identity`: the student's id and saved tokens.
"""
