"""Early rumour detection end to end: train ERD on synthetic event streams, evaluate it on the
held-out test split against the RDM answering at fixed checkpoints and on the full stream.

    .venv/bin/python examples/early_rumour_detection.py        # a few minutes on CPU

Swap the data set for a real one with ``dataset="../shared/data/pheme/pheme_v9_rnr_7events.jsonl"``
(or ``load_pheme(folder)``, ``load_weibo``, ``load_jsonl``) and split by news event with
``test_groups=["ferguson"]``; ``rlcore bench run rumour-protocol --full --data ...`` runs the full protocol.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import gymnasium as gym
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch

from rlcore import ERD
from rlcore.erd import compute_metrics, format_table
from rlcore.erd.baselines import checkpoint_decisions, threshold_decisions


def main() -> None:
    torch.set_num_threads(1)  # small networks: one thread is fastest on a shared CPU
    # 60 / 20 / 20 split by event: the RDM learns on "train", the CM on "val" (held out)
    # rewards: -0.01 a chunk read, +1 correct, -2 wrong (the benchmark's; the env default is -5)
    data = dict(
        synthetic_kwargs=dict(n_events=1500, seed=0),
        val_fraction=0.2,
        test_fraction=0.2,
        wrong_reward=-2.0,
    )
    train_env = gym.make("rlcore/RumourStream-v0", **data)
    val_env = gym.make("rlcore/RumourStream-v0", split="val", **data)
    test_env = gym.make("rlcore/RumourStream-v0", split="test", **data)
    print(f"train events: {len(train_env.unwrapped.streams)}, test events: "
          f"{len(test_env.unwrapped.streams)}")  # fmt: skip

    # cm_input="probs": the CM sees the RDM's class probabilities (the benchmark's choice);
    # "state" is the paper's GRU-state CM
    model = ERD(
        train_env, cm_env=val_env, cm_input="probs", rdm_pretrain_epochs=6, seed=0, verbose=1
    )
    model.pretrain_rdm()
    pretrained_rdm = copy.deepcopy(model.rdm)
    model.learn(total_timesteps=10_000, progress_bar=True)

    with tempfile.TemporaryDirectory() as tmp:  # save / load round trip (safe .npz format)
        model = ERD.load(model.save(Path(tmp) / "erd"), env=train_env)

    # one episode through the Gymnasium API, carrying the GRU state like SB3 recurrent policies
    obs, info = test_env.reset(seed=0)
    state, start, done = None, [True], False
    while not done:
        action, state = model.predict(obs[None], state=state, episode_start=start)
        obs, reward, done, _, info = test_env.step(int(action[0]))
        start = [False]
    print(f"\nevent {info['event_id']}: answered {'rumour' if info['answer'] else 'non-rumour'} "
          f"after {info['posts_read']}/{info['n_posts']} posts "
          f"({info['elapsed_seconds'] / 3600:.1f} h), correct: {info['correct']}\n")  # fmt: skip

    streams = test_env.unwrapped.streams
    rows = {"ERD": compute_metrics(model.decide(streams))}
    for k in (1, 4, 16):
        rows[f"RDM@{k} chunks"] = compute_metrics(checkpoint_decisions(pretrained_rdm, streams, k))
    rows["RDM full stream"] = compute_metrics(checkpoint_decisions(pretrained_rdm, streams, None))
    # the confidence-threshold stop: its threshold should be chosen on validation events
    val_streams = val_env.unwrapped.streams
    best = max(
        (0.6, 0.8, 0.9, 0.95, 0.99),
        key=lambda tau: compute_metrics(threshold_decisions(pretrained_rdm, val_streams, tau))[
            "sea"
        ],
    )
    rows[f"threshold {best}"] = compute_metrics(threshold_decisions(pretrained_rdm, streams, best))
    print(format_table(rows))


if __name__ == "__main__":
    main()
