"""Top-level windows and dialogs: the main window (it assembles), the volume browser, the Align, Train and
Export dialogs."""
