"""The homework's algorithm: MAML for policy gradients on HalfCheetah task distributions.

It imports nothing from ``hw14_lib`` outside this folder except the leaf :mod:`hw14_lib.common.io_utils`.

* :mod:`~hw14_lib.rl.tasks`: a task and its reward; :mod:`~hw14_lib.rl.task_families`: the families ``p(T)``.
* :mod:`~hw14_lib.rl.envs`: the Gymnasium environments (``HalfCheetahBackward``, a task's HalfCheetah-v5).
* :mod:`~hw14_lib.rl.vector_env`: every copy of a batch stepped by one ``mujoco.rollout`` call.
* :mod:`~hw14_lib.rl.paper_env`: the MAML paper's (rllab's) half-cheetah, batched the same way.
* :mod:`~hw14_lib.rl.policy`: the diagonal-Gaussian MLP policy and its functional forward pass.
* :mod:`~hw14_lib.rl.sampling`: N trajectories for each of B tasks at once.
* :mod:`~hw14_lib.rl.advantages`: returns, the linear baseline, GAE and normalization.
* :mod:`~hw14_lib.rl.losses`: the policy-gradient surrogate, entropy bonus and L2 term.
* :mod:`~hw14_lib.rl.maml`: the inner step ``adapt``, ``adapt_all``, ``meta_objective``, ``sample_meta_batch``.
* :mod:`~hw14_lib.rl.trust_region`: KL, Fisher-vector products and conjugate gradient of the TRPO meta-step.
* :mod:`~hw14_lib.rl.outer`: the outer step, Adam or TRPO, behind one protocol.
* :mod:`~hw14_lib.rl.parallel`: independent pieces of work on several threads, in the serial loop's numbers.
"""
