"""The half-cheetah's centre of mass and its x-velocity for many copies at once, from ``qpos`` and ``qvel``.

The cheetah moves in the x-z plane: its root slides along x and z and turns about y, and every other body hangs
from its parent by one hinge about y at its own origin. A body's frame is then its parent's, moved by the parent's
rotation of its offset ``p`` and turned by its hinge angle ``q``; with ``phi`` the summed angles and
``R(phi) p = (p_x cos phi + p_z sin phi, -p_x sin phi + p_z cos phi)``,

    x_i = x_parent + R(phi_parent) p_i,            phi_i = phi_parent + q_i,
    v_i = v_parent + omega_parent (R(phi_parent) p_i)_z,   omega_i = omega_parent + qdot_i   (x-velocities),

and body ``i``'s centre of mass is ``x_i + R(phi_i) c_i`` with x-velocity ``v_i + omega_i (R(phi_i) c_i)_z``. The
torso subtree's centre of mass and x-velocity are their mass-weighted means: MuJoCo's ``subtree_com`` and
``subtree_linvel[:, 0]`` of the torso (``tests/rl/test_paper_env.py`` compares them to 1e-12), computed here as
array operations over the copies, not one MuJoCo call per copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

SLIDE, HINGE = mujoco.mjtJoint.mjJNT_SLIDE, mujoco.mjtJoint.mjJNT_HINGE
X_AXIS, Y_AXIS, Z_AXIS = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


@dataclass(frozen=True)
class PlanarTree:
    """The bodies below the world, in MuJoCo's order (a parent before its children).

    Attributes:
        parent: each body's parent, an index into these bodies, or -1 for the root (the torso).
        offset: each body's origin in its parent's frame (the root's: in the world's, its slides at 0), ``(x, z)``,
            ``(bodies, 2)``.
        com: each body's centre of mass in its own frame, ``(x, z)``, ``(bodies, 2)``.
        qpos, qvel: the ``qpos``/``qvel`` index of each body's hinge (the root's: its turn about y).
        root_slides: the ``qpos`` (= ``qvel``) indices of the root's x and z slides.
    """

    parent: tuple[int, ...]
    offset: np.ndarray
    com: np.ndarray
    qpos: tuple[int, ...]
    qvel: tuple[int, ...]
    root_slides: tuple[int, int]

    @classmethod
    def of(cls, model: mujoco.MjModel) -> PlanarTree:
        """The tree of ``model``.

        Raises:
            ValueError: a model that is not planar in this way (naming the first body or joint that is not).
        """
        parent, slides, qpos, qvel = [], [], [], []
        for body in range(1, model.nbody):
            name = model.body(body).name
            joints = range(model.body_jntadr[body], model.body_jntadr[body] + model.body_jntnum[body])
            kinds = [(int(model.jnt_type[j]), tuple(model.jnt_axis[j])) for j in joints]
            shifted = any(np.any(model.jnt_pos[j] != 0) for j in joints)
            in_plane = model.body_pos[body][1] == 0 and model.body_ipos[body][1] == 0
            if not in_plane or shifted or tuple(model.body_quat[body]) != (1.0, 0.0, 0.0, 0.0):
                raise ValueError(f"body {name!r} is not a planar body (offset in y, rotated, or a shifted joint)")
            if model.body_parentid[body] == 0:
                if kinds != [(SLIDE, X_AXIS), (SLIDE, Z_AXIS), (HINGE, Y_AXIS)] or parent:
                    raise ValueError(f"root body {name!r} needs slides along x and z, then a hinge about y")
                slides = [int(model.jnt_qposadr[j]) for j in joints[:2]]
            elif kinds != [(HINGE, Y_AXIS)]:
                raise ValueError(f"body {name!r} needs exactly one hinge about y")
            parent.append(int(model.body_parentid[body]) - 1)
            qpos.append(int(model.jnt_qposadr[joints[-1]]))
            qvel.append(int(model.jnt_dofadr[joints[-1]]))
        bodies = slice(1, model.nbody)
        return cls(
            tuple(parent),
            model.body_pos[bodies][:, [0, 2]].copy(),
            model.body_ipos[bodies][:, [0, 2]].copy(),
            tuple(qpos),
            tuple(qvel),
            (slides[0], slides[1]),
        )

    def centre_of_mass(self, qpos: np.ndarray, qvel: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The centre of mass of all bodies, ``(copies, 3)``, and its x-velocity, ``(copies,)``.

        Args:
            qpos, qvel: the copies' states, ``(copies, nq)`` and ``(copies, nv)``.
            mass: each copy's body masses, ``(copies, bodies)`` (a task may scale them).
        """
        x_slide, z_slide = self.root_slides
        frames_x, frames_z, angles, velocities, spins = [], [], [], [], []
        com_x = com_z = com_v = 0.0
        for i, p in enumerate(self.parent):
            if p < 0:
                x, z = qpos[:, x_slide] + self.offset[i, 0], qpos[:, z_slide] + self.offset[i, 1]
                v, phi, omega = qvel[:, x_slide], qpos[:, self.qpos[i]], qvel[:, self.qvel[i]]
            else:
                dx, dz = _rotate(self.offset[i], angles[p])
                x, z, v = frames_x[p] + dx, frames_z[p] + dz, velocities[p] + spins[p] * dz
                phi, omega = angles[p] + qpos[:, self.qpos[i]], spins[p] + qvel[:, self.qvel[i]]
            frames_x.append(x), frames_z.append(z), angles.append(phi), velocities.append(v), spins.append(omega)
            cx, cz = _rotate(self.com[i], phi)
            m = mass[:, i]
            com_x, com_z, com_v = com_x + m * (x + cx), com_z + m * (z + cz), com_v + m * (v + omega * cz)
        total = mass.sum(axis=1)
        com = np.stack([com_x / total, np.zeros_like(total), com_z / total], axis=1)
        return com, com_v / total


def _rotate(point: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``R(phi) point`` (a rotation about y) for each angle of ``phi``: its x and z."""
    cos, sin = np.cos(phi), np.sin(phi)
    return point[0] * cos + point[1] * sin, -point[0] * sin + point[1] * cos
