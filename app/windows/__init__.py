"""Top-level windows and dialogs: the main window (it only assembles), the volume browser, and the Align,
Train and Export dialogs."""
