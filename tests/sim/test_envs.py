"""The gym environments: the checker, registration, snapshot resets, the vector."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from matchbook.sim.envs import (
    ExecutionEnv,
    ExecutionVectorEnv,
    MarketMakingEnv,
    MarketMakingVectorEnv,
)


@pytest.mark.parametrize("cls", [ExecutionEnv, MarketMakingEnv])
def test_environments_pass_the_checker(cls: type) -> None:
    check_env(cls(), skip_render_check=True)


def test_registered_names_make_and_vectorise() -> None:
    for name in ("Matchbook/Execution-v0", "Matchbook/MarketMaking-v0"):
        env = gym.make(name)
        obs, _ = env.reset(seed=1)
        assert env.observation_space.contains(obs)
        vec = gym.make_vec(name, num_envs=3, vectorization_mode="vector_entry_point")
        obs, _ = vec.reset(seed=1)
        assert obs.shape == (3, 6)
        actions = vec.action_space.sample()
        assert actions.shape[0] == 3
        obs, rewards, terminated, _, _ = vec.step(actions)
        assert obs.shape == (3, 6) and rewards.shape == terminated.shape == (3,)


def test_reset_restores_the_warm_snapshot_not_a_replay() -> None:
    env = ExecutionEnv()
    env.reset(seed=5)
    first = env.sim.engine.state_hash()
    messages = env.sim.messages
    for _ in range(20):
        env.step(np.array([0.3], dtype=np.float32))
    assert env.sim.engine.state_hash() != first
    env.reset(seed=6)
    assert env.sim.engine.state_hash() == first and env.sim.messages == messages


def test_same_episode_seed_same_episode() -> None:
    def episode(seed: int) -> list[float]:
        env = ExecutionEnv(horizon=15)
        env.reset(seed=seed)
        rewards = []
        terminated = False
        while not terminated:
            _, reward, terminated, _, _ = env.step(np.array([0.2], dtype=np.float32))
            rewards.append(reward)
        return rewards

    assert episode(3) == episode(3)
    assert episode(3) != episode(4)


def test_execution_finishes_the_parent_order() -> None:
    env = ExecutionEnv(target_lots=50, horizon=10)
    env.reset(seed=2)
    terminated, info = False, {}
    while not terminated:
        _, _, terminated, _, info = env.step(np.array([0.0], dtype=np.float32))
    assert info["left_lots"] == 0  # the last step sends what is left


def test_vector_autoresets_on_the_next_step() -> None:
    vec = ExecutionVectorEnv(num_envs=2, horizon=2)
    vec.reset(seed=0)
    _, _, done1, _, _ = vec.step(np.zeros((2, 1), dtype=np.float32))
    _, _, done2, _, _ = vec.step(np.zeros((2, 1), dtype=np.float32))
    assert not done1.any() and done2.all()
    obs, rewards, done3, _, _ = vec.step(np.zeros((2, 1), dtype=np.float32))
    assert not done3.any() and np.all(rewards == 0) and np.allclose(obs[:, 0], 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [ExecutionVectorEnv, MarketMakingVectorEnv])
def test_vector_workers_step_the_same_episodes_as_one_process(cls: type) -> None:
    def run(workers: int) -> list[np.ndarray]:
        vec = cls(num_envs=3, workers=workers, horizon=3)
        try:
            obs, _ = vec.reset(seed=7)
            out = [obs]
            rng = np.random.default_rng(1)
            cpu = vec.cpu_seconds()
            for _ in range(5):  # crosses an episode end: the autoreset runs in the worker
                obs, rewards, terminated, truncated, _ = vec.step(
                    rng.random((3, vec.action_dim)).astype(np.float32))
                out += [obs, rewards, terminated, truncated]
            assert vec.cpu_seconds() > cpu  # the stepping processes' CPU time, workers too
            return out
        finally:
            vec.close()

    serial, parallel = run(1), run(2)
    assert any(part.dtype == np.bool_ and part.any() for part in serial)  # an episode ended
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_vector_needs_at_least_one_env_and_worker() -> None:
    with pytest.raises(ValueError, match="num_envs"):
        ExecutionVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="workers"):
        ExecutionVectorEnv(num_envs=2, workers=0)


def test_an_episode_does_not_depend_on_the_episodes_before_it() -> None:
    """A reset reuses the environment's objects (the background's generators, the
    day-long paths written in place): an episode after others is the one a fresh
    environment plays."""
    def play(env: ExecutionEnv, seed: int, steps: int) -> list[object]:
        obs, _ = env.reset(seed=seed)
        seen: list[object] = [obs.tolist()]
        for _ in range(steps):
            obs, reward, terminated, _, _ = env.step(np.array([0.05], dtype=np.float32))
            seen += [obs.tolist(), reward]
            if terminated:
                break
        seen += [env.sim.engine.state_hash(), env.sim._fundamental.tolist()]
        return seen

    fresh = play(ExecutionEnv(horizon=20), 3, 20)
    env = ExecutionEnv(horizon=20)
    play(env, 9, 20)
    play(env, 10, 7)
    assert play(env, 3, 20) == fresh
