"""The app's Qt-free core: the engine adapter (:mod:`app.core.engine`, the only module that imports
``refusion_core``), items and pairing, the model catalog, results, writing exports, and the logic of the
Align dialog and the volume browser. Nothing here imports Qt (tests/app/test_boundaries.py)."""
