"""The quality ladder: which rung (voice and separation quality) voices the next speech segment.

A processor offers its rungs best first (the real STS: ``natural`` = Kokoro over model separation,
``fast`` = Pico over model separation, ``fastest`` = Pico over ducking). With a fixed rung the
ladder never moves. In ``auto`` it starts on the cheapest rung (one the machine sustains) and:

* steps **down** one rung when a segment's result came back with less than ``down_slack`` before
  its deadline, or not at all (timed out): the STS is falling behind;
* steps **up** one rung after ``up_after`` segments in a row that had room for the better rung:
  their slack minus what the better rung would cost more (its measured cost per second of audio,
  or ``unknown_cost_factor`` times the current rung's before it was ever measured) still left
  ``up_margin`` (plus ``up_uncertainty`` of that extra cost). Every step down doubles the run needed for the next step up (capped at
  ``max_up_after``), so a machine that cannot hold a rung stops probing it.

The rung is chosen when a segment is submitted, so a step never changes voice inside a segment.
Fallback to the original audio is not a rung: it is what the core does when a segment fails.
Pure: the core feeds it each segment's slack, cost and length, and reads :attr:`rung`.
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
    down_slack_ns: int = round(0.3 * NS_PER_S)
    up_margin_ns: int = round(0.6 * NS_PER_S)
    up_uncertainty: float = 0.5  # and this share of the expected extra cost on top (costs vary with the text)
    unknown_cost_factor: float = 2.0
    up_after: int = 3
    max_up_after: int = 24
    cost_smoothing: float = 0.3  # weight of the newest segment in a rung's cost estimate


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
        self._cost_per_s: dict[str, float] = {}  # measured STS seconds per second of segment, per rung

    @property
    def rung(self) -> str:
        return self.rungs[self._index]

    @property
    def at_bottom(self) -> bool:
        """No cheaper rung left: a slow STS can only fall back now."""
        return self.fixed or self._index == len(self.rungs) - 1

    @property
    def fixed(self) -> bool:
        return self.config.mode != AUTO or len(self.rungs) == 1

    def observe(self, slack_ns: int | None, cost_ns: int | None = None, audio_ns: int | None = None,
                rung: str | None = None, voiced: bool = True) -> StepTaken | None:
        """A segment's outcome: ns to spare before its deadline (``None``: it timed out), what its STS
        call cost and how long it was, on ``rung`` (default: the current one). ``voiced`` False: the
        STS heard no words and voiced nothing; such a segment is cheap on every rung, so it says
        nothing of the rung's cost or of room for a better one (it can still step down)."""
        rung = rung or self.rung
        if not voiced and slack_ns is not None and slack_ns >= self.config.down_slack_ns:
            return None
        if cost_ns is not None and audio_ns and voiced:
            per_s = cost_ns / audio_ns
            old = self._cost_per_s.get(rung)
            weight = self.config.cost_smoothing
            self._cost_per_s[rung] = per_s if old is None else (1 - weight) * old + weight * per_s
        if self.fixed:
            return None
        config = self.config
        if slack_ns is None or slack_ns < config.down_slack_ns:
            self._roomy = 0
            if self._index == len(self.rungs) - 1 or rung != self.rung:
                return None
            self._up_after = min(config.max_up_after, self._up_after * 2)
            why = "timed out" if slack_ns is None else f"only {slack_ns / NS_PER_S:.2f} s to spare"
            return self._move(+1, Step.down, why)
        if self._index > 0 and rung == self.rung and self._room_for_better(slack_ns, audio_ns):
            self._roomy += 1
            if self._roomy >= self._up_after:
                self._roomy = 0
                return self._move(-1, Step.up, f"{self._up_after} segments in a row with room for it")
        elif rung == self.rung:
            self._roomy = 0
        return None

    def rung_for(self, audio_ns: int, budget_ns: int) -> str:
        """The rung that voices a segment of ``audio_ns`` with ``budget_ns`` left before its deadline:
        the current one, or the first cheaper one whose measured cost (plus ``up_uncertainty`` of it
        and ``down_slack``) fits, when the current one's would not (a long segment, one that waited
        for a slot). The ladder itself does not move: that stays the outcomes' job."""
        if self.fixed:
            return self.rung
        index = self._index
        while index < len(self.rungs) - 1:
            per_s = self._cost_per_s.get(self.rungs[index])
            if per_s is None or per_s * audio_ns * (1 + self.config.up_uncertainty) + self.config.down_slack_ns <= budget_ns:
                break
            index += 1
        return self.rungs[index]

    def expected_extra_ns(self, audio_ns: int) -> int | None:
        """What the next better rung would cost more than the current one for ``audio_ns`` of audio."""
        if self._index == 0:
            return None
        now = self._cost_per_s.get(self.rung)
        if now is None:
            return None
        better = self._cost_per_s.get(self.rungs[self._index - 1], now * self.config.unknown_cost_factor)
        return round(max(0.0, better - now) * audio_ns)

    def _room_for_better(self, slack_ns: int, audio_ns: int | None) -> bool:
        extra = self.expected_extra_ns(audio_ns) if audio_ns else None
        return extra is not None and slack_ns - extra * (1 + self.config.up_uncertainty) >= self.config.up_margin_ns

    def _move(self, delta: int, step: Step, reason: str) -> StepTaken:
        old = self.rung
        self._index += delta
        return StepTaken(step, old, self.rung, reason)
