"""Each item of the list (pair or stack) has its own task and model (:class:`~app.core.pairing.ItemSetup`).

The toolbar's task and model boxes show and edit the *current* item's: selecting an item puts its task and
model in the boxes; choosing in the boxes changes that item only. A new item gets the task its files name
(:func:`~app.core.pairing.task_from_paths`), else the task in the box, with the model in the box when that
model suits the task, else the task's default. Choosing a model made for another task asks first (fusing an
infrared–visible pair with the medical model is legitimate for a researcher, but never silent); changing an
item's task drops a model made for another task in favour of the new task's default.
"""

from __future__ import annotations

import contextlib
from typing import Callable

from PySide6.QtCore import QObject

from app.core.engine import TASK_NAMES
from app.core.methods import DEFAULT, MethodKey
from app.core.pairing import ItemSetup, Pair, task_from_paths
from app.qt.state import StudioState

Ask = Callable[[str, str], bool]
"""(title, question) -> yes: how the controller asks (a QMessageBox in the window, a stub in tests)."""


class ItemsController(QObject):
    def __init__(self, state: StudioState, ask: Ask) -> None:
        super().__init__()
        self.state, self.ask = state, ask
        self.choices, self.pairs, self.models = state.choices, state.workspace.pairs, state.models
        self._syncing = False
        self.pairs.new_setup = self.new_setup
        self.pairs.currentChanged.connect(self.show_current)
        self.pairs.setupChanged.connect(lambda i: self.show_current() if i == self.pairs.current else None)
        self.choices.taskChanged.connect(self._on_task_chosen)
        self.choices.modelChanged.connect(self._on_model_chosen)

    # ------------------------------------------------------------------ items -> boxes
    def new_setup(self, pair: Pair) -> ItemSetup:
        task = task_from_paths(pair.paths) or self.choices.task
        model = self.choices.model if self.suits(self.choices.model, task) and task == self.choices.task else DEFAULT
        return ItemSetup(task, model)

    def suits(self, key: MethodKey, task: str) -> bool:
        """Whether ``key`` is a model of ``task`` (or one that does not say which task it was made for)."""
        return self.models.task_of(key) in (task, None)

    def show_current(self, _index: int = -1) -> None:
        setup = self.pairs.current_setup()
        if setup is None:
            return
        self._syncing = True
        try:
            self.choices.set_task(setup.task)
            self.choices.set_model(setup.model)
        finally:
            self._syncing = False

    @contextlib.contextmanager
    def held(self):  # noqa: ANN201
        """Changes of the boxes do not reach the items meanwhile (while a fine-tuned model is saved, the model box
        briefly falls back to the default: the items keep theirs until they are moved to the saved file)."""
        before, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = before

    # ------------------------------------------------------------------ boxes -> the current item
    def _on_task_chosen(self, task: str) -> None:
        if self._syncing:
            return
        if not self.suits(self.choices.model, task):
            self.choices.set_model(DEFAULT)  # the model box would otherwise keep another task's model
        self._store(ItemSetup(task, self.choices.model))

    def _on_model_chosen(self, key: MethodKey) -> None:
        if not self._syncing:
            self._store(ItemSetup(self.choices.task, key))

    def _store(self, setup: ItemSetup) -> None:
        if self.pairs.current_pair() is not None:
            self.pairs.set_setup(self.pairs.current, setup)

    def confirm_model(self, key: MethodKey) -> bool:
        """Ask before choosing a model made for another task than the current one's; True to go on."""
        made_for, task = self.models.task_of(key), self.choices.task
        if made_for in (task, None):
            return True
        entry = self.models.get(key, task)
        name = entry.label if entry else key.label
        return self.ask("A model of another task",
                        f"{name} was made for {made_for} ({TASK_NAMES[made_for]}), and this item is {task} "
                        f"({TASK_NAMES[task]}).\n\nUse it for this item anyway?")
