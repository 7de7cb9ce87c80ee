"""The app's state, in three parts that each emit their own signals, and the model list.

* :class:`~app.qt.choices.Choices` -- what the user chose (task, model, device, comparison, scaling);
* :class:`~app.qt.workspace.Workspace` -- the data (pairs, sources, results, weight maps);
* :class:`~app.qt.activity.Activity` -- the process status (what runs, progress, device, training);
* :class:`~app.qt.models.Models` -- the models there are to choose from.

Widgets take the part they draw in ``__init__`` and subscribe to it; controllers take the whole and change
it through the parts' setters, so that only a part emits its own signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.catalog import Store
from app.qt.activity import Activity
from app.qt.choices import Choices
from app.qt.models import Models
from app.qt.workspace import Workspace


@dataclass
class StudioState:
    models: Models
    choices: Choices = field(default_factory=Choices)
    workspace: Workspace = field(default_factory=Workspace)
    activity: Activity = field(default_factory=Activity)

    @classmethod
    def create(cls, preferences: Store) -> StudioState:
        return cls(Models(preferences))
