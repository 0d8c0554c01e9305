"""The quality ladder: which rung (voice and separation quality) voices the next speech segment.

A processor offers its rungs best first (the real STS: ``natural`` = Kokoro over model separation,
``fast`` = Pico over model separation, ``fastest`` = Pico over ducking). With a fixed rung the
ladder never moves. In ``auto`` it starts on the cheapest rung (one the machine sustains) and:

* steps **down** one rung when a segment's result came back with less than ``down_slack`` before
  its deadline, or not at all (timed out): the STS is falling behind;
* steps **up** one rung after ``up_after`` segments in a row came back with at least ``up_slack`` to
  spare; every step down doubles the run needed for the next step up (capped at ``max_up_after``),
  so a machine that cannot hold a rung stops probing it.

The rung is chosen when a segment is submitted, so a step never changes voice inside a segment.
Fallback to the original audio is not a rung: it is what the core does when a segment fails.
Pure: the core feeds it each segment's slack and reads :attr:`rung`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from livedub.core.messages import NS_PER_S

AUTO = "auto"


class Step(str, Enum):
    up = "up"
    down = "down"


@dataclass(frozen=True)
class LadderConfig:
    mode: str = AUTO  # "auto" or a rung name (WORKER_QUALITY)
    down_slack_ns: int = round(0.5 * NS_PER_S)
    up_slack_ns: int = round(2.0 * NS_PER_S)
    up_after: int = 4
    max_up_after: int = 32


@dataclass(frozen=True)
class StepTaken:
    step: Step
    old: str
    new: str
    reason: str


class QualityLadder:
    def __init__(self, rungs: tuple[str, ...], config: LadderConfig) -> None:
        if not rungs:
            raise ValueError("a quality ladder needs at least one rung")
        if config.mode != AUTO and config.mode not in rungs:
            raise ValueError(f"WORKER_QUALITY={config.mode} is not offered here; choose auto or one of {', '.join(rungs)}")
        self.rungs = rungs
        self.config = config
        self._index = rungs.index(config.mode) if config.mode != AUTO else len(rungs) - 1
        self._roomy = 0
        self._up_after = config.up_after

    @property
    def rung(self) -> str:
        return self.rungs[self._index]

    @property
    def fixed(self) -> bool:
        return self.config.mode != AUTO or len(self.rungs) == 1

    def observe(self, slack_ns: int | None) -> StepTaken | None:
        """A segment's outcome: ns to spare before its deadline, or ``None`` when it timed out."""
        if self.fixed:
            return None
        config = self.config
        if slack_ns is None or slack_ns < config.down_slack_ns:
            self._roomy = 0
            if self._index == len(self.rungs) - 1:
                return None
            self._up_after = min(config.max_up_after, self._up_after * 2)
            why = "timed out" if slack_ns is None else f"only {slack_ns / NS_PER_S:.2f} s to spare"
            return self._move(+1, Step.down, why)
        if slack_ns >= config.up_slack_ns:
            self._roomy += 1
            if self._roomy >= self._up_after and self._index > 0:
                self._roomy = 0
                return self._move(-1, Step.up, f"{self._up_after} segments in a row with room")
        else:
            self._roomy = 0
        return None

    def _move(self, delta: int, step: Step, reason: str) -> StepTaken:
        old = self.rung
        self._index += delta
        return StepTaken(step, old, self.rung, reason)
