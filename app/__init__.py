"""ReFusion Studio: the desktop app (PySide6 + pyqtgraph) on top of the headless ``refusion_core`` engine.

Layers, from the bottom up (tests/app/test_boundaries.py holds them):

* ``core/``        -- Qt-free. ``core/engine.py`` is the adapter, the only app module that imports
  ``refusion_core`` (its torch-based parts inside functions, on first use); typed method keys, items and
  pairing, the model catalog, results, writing exports, the Align and volume logic, view models.
* ``qt/``          -- Qt infrastructure: the job runner (one worker type, wired once), the state in three
  parts that emit their own signals (choices, workspace, activity; and the model list), the error handler,
  preferences (QSettings), drawing helpers, icons.
* ``controllers/`` -- fusing, training and exporting (they take the state, start jobs, fill the state) and
  the toolbar and menu actions that ask the user first.
* ``widgets/``     -- views, one per file; each takes the part of the state it draws and subscribes to it.
* ``windows/``     -- the main window (it only assembles), the volume browser, the Align, Train and Export
  dialogs.
* ``main.py``, ``__main__.py``, ``screenshot.py`` -- entry points.

Importing any app module imports no torch; the window is up before the engine's heavy parts load.
"""

from app.core.engine import ENGINE_VERSION

__version__ = ENGINE_VERSION  # one version number: the package's, which pyproject reads
