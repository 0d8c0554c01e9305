"""The stream orchestrator (service `stream-orchestration`): one worker per published stream.

Layers, inside out: ``state``/``supervisor`` (pure state machines, time passed in), ``actor``
(the one asyncio task that owns them and runs launcher calls), ``launcher`` (where workers run),
``reconcile`` (converge with the media server), ``app`` (HTTP), ``service`` (wiring).
"""
