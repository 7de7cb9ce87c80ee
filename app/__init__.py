"""ReFusion Studio: the desktop app (PySide6 + pyqtgraph) on top of the headless ``refusion_core`` engine.

Layout (napari/pymeasure style), from the bottom up:

* ``core/``        -- Qt-free: the engine adapter ``core/engine.py`` (imports the engine's heavy parts lazily),
  items and pairing, the model catalog, results, writing exports, the Align and volume logic.
* ``qt/``          -- Qt infrastructure: the worker, the state objects, the error handler, preferences.
* ``controllers/`` -- fusing, training, exporting (state + engine + worker) and the menu/toolbar actions.
* ``widgets/``     -- one view per file; each takes the state in ``__init__`` and subscribes to it.
* ``windows/``     -- the main window (assembles toolbar, actions, docks), the volume browser, the dialogs.
* ``main.py``, ``__main__.py``, ``screenshot.py`` -- entry points.

Torch is never imported while the window is being built (see ``tests/app/test_startup.py``).
"""

__version__ = "0.1.0"
