"""``refusion``: the engine on the command line.

One module per subcommand, each adding its own sub-parser with ``register(sub)`` and setting ``func``
(the function :func:`refusion_core.cli.main.main` calls with the parsed arguments):

- ``fuse`` (:mod:`.fuse`): fuse two or more registered images; or many pairs (``--pairs`` / ``--manifest``)
- ``align`` (:mod:`.align`): register images to a reference image
- ``fuse-volume`` (:mod:`.volume`): fuse two co-registered medical volumes
- ``train`` (:mod:`.train`), ``resume`` (:mod:`.resume`): train with Algorithm 1, resume a stopped run
- ``eval`` (:mod:`.evaluate`): metrics of models and classical baselines on a set of pairs
- ``info`` (:mod:`.info`): versions, device and default weights; or a model file's metadata

:mod:`.main` builds the parser and dispatches; :mod:`.common` holds what several commands share. A command
module imports only light modules at the top (``refusion --help`` loads no torch, no OpenCV); the heavy
ones are imported inside its ``run``.

The contract: every user error ends in one line on stderr (``refusion: error: ...``) and exit status 2;
nothing is left half-written (all outputs are written atomically). A training run stopped by a signal
exits 128 + its number: 130 (Ctrl-C), 143 (SIGTERM), 129 (SIGHUP). A batch (``fuse --pairs``) in which some
pairs failed lists them, one line each (``refusion: failed: ...``), after writing the others, and exits 1.

No command guesses the task: ``--task`` is required unless the model given (``--weights``, ``--init``) records
it (:func:`.common.resolve_task`); ``fuse-volume`` alone defaults to ``mif``.
"""
