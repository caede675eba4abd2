"""Running jobs: one attempt of a command or a Python task, its timeout and its outcome.

``executor`` is the only entry point the run loop needs; ``tasks`` resolves ``task:``
paths to callables and is separate so that ``validate`` can check imports without
pulling in process handling.
"""
