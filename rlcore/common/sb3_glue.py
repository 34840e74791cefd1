"""What a model that is not an SB3 ``BaseAlgorithm`` needs to look like one to SB3's tools.

The tabular agents (:class:`rlcore.tabular.base.TabularAgent`), the benchmark's random policy
(:class:`rlcore.bench.algorithms.RandomPolicy`) and ERD (its callbacks) train on an SB3 ``VecEnv``, report to an SB3
``Logger`` and call SB3 callbacks (``EvalCallback``, ``CheckpointCallback``, functions, lists,
the progress bar) exactly as SB3's own algorithms do. This module holds that glue once:

* :func:`wrap_env`: an env id, a Gymnasium env or a ``VecEnv`` -> a ``VecEnv`` (a
  ``DummyVecEnv`` of the env in SB3's ``Monitor``, as SB3 wraps it);
* :func:`seed_env`: seed a ``VecEnv``'s next reset and its action space;
* :func:`make_logger`: the SB3 ``Logger`` of a ``verbose`` level (stdout at 1, nothing at 0);
* :func:`init_callback`: a callback argument (``None``, a ``BaseCallback``, a list of them or a
  function ``f(locals, globals) -> bool``) -> one initialized ``BaseCallback``, as SB3's
  ``BaseAlgorithm._init_callback``, with a clear error for anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
    ProgressBarCallback,
)
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.logger import HumanOutputFormat, Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

__all__ = [
    "CallbackModel",
    "MaybeCallback",
    "init_callback",
    "make_logger",
    "seed_env",
    "wrap_env",
]

MaybeCallback = BaseCallback | list[BaseCallback] | Callable[..., bool] | None
"""What ``learn(callback=...)`` accepts: nothing, an SB3 callback, a list of them, or a function
``f(locals, globals) -> bool`` (returning False stops training)."""


class CallbackModel(Protocol):
    """What SB3's callbacks read from the model they are initialized with."""

    num_timesteps: int
    """Environment steps taken so far (summed over the ``VecEnv``'s envs)."""
    logger: Logger
    """Where callbacks (and the model) record values."""

    def get_env(self) -> VecEnv | None:
        """The training environment."""
        ...


def wrap_env(
    env: gym.Env | VecEnv | str,
    who: str,
    check: Callable[[gym.Env], None] | None = None,
) -> VecEnv:
    """The training ``VecEnv`` of ``env``.

    Args:
        env: a registered env id (made with ``gymnasium.make``), a Gymnasium env, or an SB3
            ``VecEnv`` (returned as it is).
        who: the model's name, for the error message.
        check: called with the Gymnasium env before it is wrapped (e.g. to require ``Discrete``
            spaces); it raises to refuse the env. Not called for a ``VecEnv``.

    Returns:
        ``env`` itself if it is a ``VecEnv``, else a one-env ``DummyVecEnv`` of ``env`` wrapped in
        SB3's ``Monitor`` (unless it already is), so that episode returns and lengths reach
        ``info["episode"]`` as with SB3's algorithms.

    Raises:
        TypeError: ``env`` is none of the three.
    """
    if isinstance(env, str):
        env = gym.make(env)
    if isinstance(env, VecEnv):
        return env
    if not isinstance(env, gym.Env):
        raise TypeError(f"{who} needs a gymnasium.Env, a VecEnv or an env id, got {env!r}")
    if check is not None:
        check(env)
    monitored = env if is_wrapped(env, Monitor) else Monitor(env)
    return DummyVecEnv([lambda: monitored])


def seed_env(env: VecEnv, seed: int) -> None:
    """Seed ``env``'s next ``reset()`` (env ``i`` gets ``seed + i``) and its action space."""
    env.seed(seed)
    env.action_space.seed(seed)


def make_logger(verbose: int) -> Logger:
    """An SB3 ``Logger`` writing a table to stdout when ``verbose >= 1``, nothing otherwise
    (replace it with ``model.set_logger(stable_baselines3.common.logger.configure(...))``)."""
    formats = [HumanOutputFormat(sys.stdout)] if verbose >= 1 else []
    return Logger(folder=None, output_formats=formats)


def init_callback(
    callback: MaybeCallback,
    model: CallbackModel,
    progress_bar: bool = False,
    function_callback: Callable[[Callable[..., Any]], BaseCallback] = ConvertCallback,
    progress_callback: Callable[[], BaseCallback] = ProgressBarCallback,
) -> BaseCallback:
    """One ``BaseCallback`` for ``callback``, initialized with ``model`` (SB3's conversion).

    Args:
        callback: ``None``, a ``BaseCallback``, a list (or tuple) of them (->
            ``CallbackList``) or a function (-> ``function_callback(f)``).
        model: the model the callbacks see as ``self.model``.
        progress_bar: add ``progress_callback()`` to the callbacks.
        function_callback: wraps a function callback; SB3's ``ConvertCallback`` (calls
            ``f(locals, globals) -> bool`` at every step) by default. ERD passes its own
            (``f(round_log)`` after each round).
        progress_callback: the progress bar; SB3's ``ProgressBarCallback`` (tqdm / rich) by
            default.

    Returns:
        the callback to call ``on_training_start(locals, globals)``, ``update_locals``,
        ``on_step()`` (False: stop) and ``on_training_end()`` on.

    Raises:
        TypeError: ``callback`` (or an item of the list) is none of these.
    """
    ok = (
        all(isinstance(c, BaseCallback) for c in callback)
        if isinstance(callback, list | tuple)
        else callback is None or isinstance(callback, BaseCallback) or callable(callback)
    )
    if not ok:
        raise TypeError(
            "callback must be None, an SB3 BaseCallback, a list of them or a function, "
            f"got {callback!r}"
        )
    cb: Any = callback
    if isinstance(cb, list | tuple):
        cb = CallbackList(list(cb))
    if not isinstance(cb, BaseCallback):  # None: SB3's do-nothing ConvertCallback(None)
        cb = ConvertCallback(None) if cb is None else function_callback(cb)
    if progress_bar:
        cb = CallbackList([cb, progress_callback()])
    cb.init_callback(model)  # type: ignore[arg-type]  # SB3 types it BaseAlgorithm
    return cb
