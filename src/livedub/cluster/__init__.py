"""Workers on a Ray cluster (``ORCH_LAUNCHER=ray``, the ``cluster`` extra).

``actor`` is what runs on a node for one stream (its worker process); the orchestrator's side is
``livedub.orchestrator.ray_launcher``. docs/scaling.md says when to use which launcher.
"""
