"""The views, one widget per file: each takes the part of the state it draws (choices, workspace, activity,
models) in ``__init__`` and subscribes to its signals; what it draws is plain data (results, view models
of :mod:`app.core.view_models`), never an engine record. Views import no controller and no window."""
