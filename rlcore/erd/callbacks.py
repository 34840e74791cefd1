"""SB3 callbacks for :class:`rlcore.ERD`.

ERD calls its callbacks as SB3's algorithms do: ``on_training_start`` when ``learn`` starts
(before the RDM pre-training), ``on_step`` after each checkpoint-module episode (its
``num_timesteps`` counts CM decisions; ``False`` stops training), ``on_rollout_start`` /
``on_rollout_end`` around each training phase (an RDM epoch, a CM round; ``self.locals``
holds ``phase`` and, after a round, ``round_log``), ``on_training_end`` at the end. Any SB3
``BaseCallback`` works, ``EvalCallback`` included (ERD's ``predict`` carries the GRU state
like SB3's recurrent policies, which ``evaluate_policy`` supports).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback


class ERDProgressBarCallback(BaseCallback):
    """A tqdm bar over all of ERD's training work: RDM pre-training (streams read), RDM
    epochs of the alternation and CM steps, in one count (``model.progress``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pbar: Any = None

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        done, total = self.model.progress
        self.pbar = tqdm(total=total, initial=done, desc="ERD", unit="step")

    def _refresh(self) -> None:
        if self.pbar is not None:
            done, _ = self.model.progress
            self.pbar.set_description(f"ERD {self.locals.get('phase', '')}".rstrip())
            self.pbar.update(done - self.pbar.n)

    def _on_step(self) -> bool:
        self._refresh()
        return True

    def _on_rollout_end(self) -> None:
        self._refresh()

    def _on_training_end(self) -> None:
        self._refresh()
        if self.pbar is not None:
            self.pbar.close()
            self.pbar = None


class RoundFunctionCallback(BaseCallback):
    """Calls ``fn(round_log)`` after each ERD round; ``fn`` returning ``False`` stops
    training after that round (``model.stop_training``)."""

    def __init__(self, fn: Callable[[dict[str, Any]], bool | None]) -> None:
        super().__init__()
        self.fn = fn

    def _on_rollout_end(self) -> None:
        if self.locals.get("phase") == "round" and self.fn(self.locals["round_log"]) is False:
            self.model.stop_training = True

    def _on_step(self) -> bool:
        return True
