"""Qt infrastructure shared by the controllers and the views: the job runner, the state objects, the error
handler, preferences (QSettings), drawing helpers, icons and the PySide6 work-arounds."""
