"""Running the engine's batch work on a cluster: :mod:`refusion_core.cluster.ray_fuse` (``refusion fuse --pairs ...
--cluster``), a Ray Data actor pool over the same per-pair step as the single-process command
(:class:`refusion_core.fusing.batch.PairFuser`). Ray is an optional dependency (``pip install
"refusion-studio[cluster]"``), imported only when a cluster is asked for."""
