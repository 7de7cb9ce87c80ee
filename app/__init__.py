"""ReFusion Studio: the desktop app (PySide6 + pyqtgraph) on top of the headless ``refusion_core`` engine.

Layout (napari/pymeasure style):

* ``state.py``      -- plain Qt state objects (pairs, current result, training status) with signals.
* ``engine.py``     -- the only module that touches the engine's heavy (torch) parts, imported lazily.
* ``worker.py``     -- the one QThread worker type that drives engine generators.
* ``fusion.py``, ``training.py``, ``exporting.py`` -- controllers: state + engine + worker.
* ``widgets/``      -- one widget per file; each takes the state in ``__init__`` and subscribes to it.
* ``main_window.py``-- assembles toolbar, actions, docks and the status bar, nothing else.

Torch is never imported while the window is being built (see ``tests/app/test_startup.py``).
"""

__version__ = "0.1.0"

from app.qt_compat import guard_singleton_refcounts  # noqa: E402 - before any Qt call or signal

REFCOUNT_GUARD = guard_singleton_refcounts()  # PySide6 6.12.0 leaks None/True references
