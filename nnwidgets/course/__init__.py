"""The nbgrader course: authoring files -> source notebooks -> nbgrader releases -> grades.

- :mod:`nnwidgets.course.authoring`: the diff-friendly percent-format authoring files
  (``assignments/*.py``, ``lectures/*.py``) and their conversion to nbgrader notebooks.
- :mod:`nnwidgets.course.build`: ``nnwidgets course build`` (authoring -> ``source/``).
- :mod:`nnwidgets.course.references`: ``nnwidgets course record-references`` (execute
  the keys, store the reference metrics in ``assignments/references.json``).
- :mod:`nnwidgets.course.nbgrader_ops`: generate / autograde / grade overview with nbgrader.
- :mod:`nnwidgets.course.cli`: the ``nnwidgets course`` command.
"""
