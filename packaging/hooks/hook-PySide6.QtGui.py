"""PyInstaller's own QtGui hook, less the Qt plugins in bundle_config.QT_PLUGIN_DROP.

Filtering here (and not in the spec) keeps PyInstaller from collecting those plugins' library
dependencies too (GTK 3's cairo, pango, gdk-pixbuf, ...). Hooks in a spec's ``hookspath`` take
precedence over PyInstaller's.
"""

import os
import sys

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bundle_config import QT_PLUGIN_DROP, matches  # noqa: E402

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(src, dest) for src, dest in binaries
            if not matches(f"{dest}/{os.path.basename(src)}", QT_PLUGIN_DROP)]
