"""Controllers: they take the state, start jobs in the job runner and put what comes back into the state.
One per piece of work (fusing, training, exporting), plus the actions of the toolbar and menus."""
