"""Qt infrastructure shared by the controllers and the views: the job runner, the state objects, the error
handler, preferences (QSettings), drawing helpers, icons and the PySide6 work-arounds.

Every app module that uses Qt imports from here, so the work-around for PySide6's reference leaks runs
before the app's first Qt call (``app.core`` imports no Qt, so importing ``app`` does not either)."""

from app.qt.compat import guard_singleton_refcounts

REFCOUNT_GUARD = guard_singleton_refcounts()  # PySide6 6.12.0 leaks None/True references

