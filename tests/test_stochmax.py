"""The stochastic-maximization core: exactness, sampling law, memory, errors, no O(n) work."""

import numpy as np
import pytest
import torch

from rlcore.stochmax import (
    GridNeighbourhood,
    RecentActions,
    StateActionMemory,
    argmax_over_candidates,
    candidate_set,
    default_num_random,
    refine_on_grid,
    sample_distinct,
    stoch_argmax,
)


@pytest.mark.parametrize("n", [1, 2, 5, 37, 300])
@pytest.mark.parametrize("extra", [0, 3])
def test_equals_exact_max_when_candidates_cover_all_actions(n, extra):
    rng = np.random.default_rng(n)
    scores = rng.normal(size=(16, n))
    rows = np.arange(16)[:, None]
    actions, values, cand = stoch_argmax(
        lambda c: scores[rows, c], n, rng, batch_size=16, num_random=n + extra
    )
    np.testing.assert_array_equal(actions, scores.argmax(axis=1))
    np.testing.assert_array_equal(values, scores.max(axis=1))
    assert cand.shape == (16, n)


def test_equals_exact_max_with_torch_scores():
    rng = np.random.default_rng(0)
    scores = torch.randn(8, 50, generator=torch.Generator().manual_seed(0))
    actions, values, _ = stoch_argmax(
        lambda c: scores.gather(1, torch.as_tensor(c)), 50, rng, batch_size=8, num_random=50
    )
    assert torch.equal(actions, scores.argmax(dim=1))
    assert torch.equal(values, scores.max(dim=1).values)


def test_stoch_max_never_exceeds_exact_max():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(64, 1000))
    rows = np.arange(64)[:, None]
    _, values, _ = stoch_argmax(lambda c: scores[rows, c], 1000, rng, batch_size=64)
    assert np.all(values <= scores.max(axis=1))


@pytest.mark.parametrize(("n", "k"), [(16, 4), (1000, 10)])  # shuffle path, rejection path
def test_each_action_enters_r_with_probability_k_over_n(n, k):
    rng = np.random.default_rng(123)
    draws = 40_000
    rand = sample_distinct(rng, n, k, batch_size=draws)
    assert rand.shape == (draws, k)
    assert rand.min() >= 0 and rand.max() < n
    assert np.all(np.diff(np.sort(rand, axis=1), axis=1) > 0), "actions of a row must be distinct"
    freq = np.bincount(rand.ravel(), minlength=n) / draws
    p = k / n
    sigma = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(freq - p) < 5 * sigma), (freq.min(), freq.max(), p)


def test_single_row_sampling_has_the_same_law():
    rng = np.random.default_rng(7)
    n, k, draws = 40, 3, 20_000
    counts = np.zeros(n)
    for _ in range(draws):
        row = sample_distinct(rng, n, k)[0]
        assert len(set(row.tolist())) == k
        counts[row] += 1
    p = k / n
    assert np.all(np.abs(counts / draws - p) < 5 * np.sqrt(p * (1 - p) / draws))


def test_default_k_is_ceil_log2_n():
    assert [default_num_random(n) for n in (1, 2, 3, 1000, 1024, 10**6)] == [1, 1, 2, 10, 10, 20]


def test_huge_n_does_no_n_sized_work():
    # An O(n) draw (randperm, choice without replacement, an n-sized mask) could not allocate
    # 10**15 entries; the sampler only ever touches k of them.
    rng = np.random.default_rng(0)
    cand = candidate_set(rng, 10**15, batch_size=4, memory=np.array([[5], [-1], [7], [9]]))
    assert cand.shape == (4, default_num_random(10**15) + 1)
    assert cand.max() < 10**15


def test_memory_actions_are_candidates_and_empty_slots_are_harmless():
    rng = np.random.default_rng(0)
    n = 10**6
    scores = np.zeros((2, n))
    scores[0, 123_456] = 5.0  # only reachable through memory
    memory = np.array([[123_456], [-1]])
    rows = np.arange(2)[:, None]
    actions, values, cand = stoch_argmax(lambda c: scores[rows, c], n, rng, 2, memory=memory)
    assert actions[0] == 123_456 and values[0] == 5.0
    assert cand[1, -1] == cand[1, 0]  # empty slot repeats a random candidate


def test_shared_random_part():
    rng = np.random.default_rng(0)
    cand = candidate_set(rng, 10**6, batch_size=5, shared=True)
    assert np.all(cand == cand[0])


def test_seeded_candidates_are_reproducible():
    a = candidate_set(np.random.default_rng(3), 10**5, batch_size=32)
    b = candidate_set(np.random.default_rng(3), 10**5, batch_size=32)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [0, -3, 2.5, None])
def test_bad_number_of_actions_raises(n):
    with pytest.raises(ValueError, match="number of actions n must be a positive integer"):
        candidate_set(np.random.default_rng(0), n)


def test_bad_k_and_memory_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        sample_distinct(rng, 10, 0)
    with pytest.raises(ValueError, match="outside"):
        candidate_set(rng, 10, memory=np.array([[10]]))
    with pytest.raises(ValueError, match="shape"):
        candidate_set(rng, 10, batch_size=2, memory=np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        candidate_set(rng, 10, batch_size=1, memory=np.zeros((2, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="outside"):
        candidate_set(rng, 10, batch_size=1, memory=np.array([[3, -2]]))
    with pytest.raises(TypeError, match="integer"):
        candidate_set(rng, 10, memory=np.array([[1.5]]))


def test_argmax_over_candidates_numpy_and_torch_agree():
    cand = np.array([[4, 9, 2], [7, 1, 0]])
    scores = np.array([[0.1, 0.7, 0.3], [2.0, -1.0, 2.0]])
    a_np, v_np = argmax_over_candidates(scores, cand)
    a_t, v_t = argmax_over_candidates(torch.as_tensor(scores), cand)
    np.testing.assert_array_equal(a_np, [9, 7])
    np.testing.assert_array_equal(a_t.numpy(), a_np)
    np.testing.assert_allclose(v_t.numpy(), v_np)


def test_state_action_memory_keeps_most_recent_first_without_repeats():
    mem = StateActionMemory(n_states=3, size=3)
    for a in (5, 6, 5, 7, 8):
        mem.push(1, a)
    np.testing.assert_array_equal(mem.get(np.array([1, 0])), [[8, 7, 5], [-1, -1, -1]])
    assert StateActionMemory(3, 0).get(np.array([0])) is None


def test_recent_actions_ring_buffer():
    buf = RecentActions(3)
    np.testing.assert_array_equal(buf.get(), [-1, -1, -1])
    buf.push(np.array([1, 2]))
    buf.push(np.array([3, 4]))
    assert sorted(buf.get().tolist()) == [2, 3, 4]


def test_grid_neighbourhood_moves_one_coordinate_by_powers_of_two():
    bins = [5, 8]  # action a = 8 * i + j
    grid = GridNeighbourhood(bins)
    assert grid.size == 2 * (3 + 3)  # moves +-1, +-2, +-4 on each coordinate
    nb = grid(np.array([8 * 2 + 3]))[0]
    coords = {(a // 8, a % 8) for a in nb.tolist()}
    expected = {(min(max(2 + d, 0), 4), 3) for d in (1, -1, 2, -2, 4, -4)}
    expected |= {(2, min(max(3 + d, 0), 7)) for d in (1, -1, 2, -2, 4, -4)}
    assert coords == expected  # clipped at the border of the grid, never wrapped
    corner = grid(np.array([0, 39]))
    assert corner.min() >= 0 and corner.max() < 40
    t = grid(torch.tensor([8 * 2 + 3, 0, 39]))
    np.testing.assert_array_equal(t.numpy(), grid(np.array([8 * 2 + 3, 0, 39])))


def test_grid_neighbourhood_of_a_huge_grid_is_logarithmic():
    grid = GridNeighbourhood([10**6] * 3)  # n = 10**18 actions
    assert grid.size == 2 * 3 * 20
    nb = grid(np.array([10**18 - 1]))
    assert nb.shape == (1, 120) and nb.max() == 10**18 - 1 and nb.min() > 0


def test_refine_on_grid_climbs_a_unimodal_score_and_never_decreases():
    bins = [64, 64]
    grid = GridNeighbourhood(bins)
    target = np.array([[40, 9], [3, 60]])

    def score(cand):
        i, j = cand // 64, cand % 64
        return -(np.abs(i - target[:, :1]) + np.abs(j - target[:, 1:])).astype(float)

    start = np.array([0, 64 * 64 - 1])
    values = score(start[:, None])[:, 0]
    actions, best = refine_on_grid(score, start, values, grid, rounds=12)
    np.testing.assert_array_equal(actions, target[:, 0] * 64 + target[:, 1])
    assert np.all(best == 0)
    one, v1 = refine_on_grid(score, start, values, grid, rounds=1)
    assert np.all(v1 >= values) and np.all(v1 <= best)
    with pytest.raises(ValueError, match="bins must be a non-empty list of positive integers"):
        GridNeighbourhood([4, 0])
