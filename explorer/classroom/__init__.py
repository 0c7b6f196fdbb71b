"""Classroom mode, as plain data (no Streamlit): classes, students, class settings and the
teacher's pushes (:mod:`.classes`, kept in ``<runs>/.classroom.sqlite``), the class's rules
(:mod:`.rules`: the teacher's power over class runs, what a student may start), and the teacher's
dashboard read from the engine's views (:mod:`.board`). The Class page and the follow bar
draw them (:mod:`explorer.ui.classroom`, :mod:`explorer.ui.classroom_views`,
:mod:`explorer.figures.classroom`)."""
