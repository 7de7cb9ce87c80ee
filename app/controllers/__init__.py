"""Controllers: they take the state, start jobs in a job runner and put what comes back into the state.
One per piece of work (fusing, training, exporting, aligning), plus the toolbar and menu actions that ask
the user something first (:mod:`app.controllers.actions`)."""
