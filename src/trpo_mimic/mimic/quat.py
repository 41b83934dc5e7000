"""Quaternion and rotation maths: (w, x, y, z) unit quaternions, vectorised over leading axes.

Two axis conventions meet here: DeepMimic clip files and BVH are Y-up, the MJCF is Z-up.
A Y-up point ``(x, y, z)`` is ``(x, -z, y)`` Z-up; a quaternion ``(w, x, y, z)`` is
``(w, x, -z, y)``.  Euler angles name their axes in a string (``"ZXY"``: R = Rz Rx Ry,
the leftmost nearest the parent).
"""

from __future__ import annotations

import math

import numpy as np

AXIS = {"X": 0, "Y": 1, "Z": 2}

# (16, 4) matrix M with quat_mul(p, q) == (p[:, :, None] * q[:, None, :]).reshape(-1, 16) @ M
QMUL = np.zeros((16, 4))
for _i, _j, _k, _s in [(0, 0, 0, 1), (1, 1, 0, -1), (2, 2, 0, -1), (3, 3, 0, -1),
                       (0, 1, 1, 1), (1, 0, 1, 1), (2, 3, 1, 1), (3, 2, 1, -1),
                       (0, 2, 2, 1), (1, 3, 2, -1), (2, 0, 2, 1), (3, 1, 2, 1),
                       (0, 3, 3, 1), (1, 2, 3, 1), (2, 1, 3, -1), (3, 0, 3, 1)]:
    QMUL[4 * _i + _j, _k] = _s

# epsilon[i, j, k]: the cross product a x b is einsum("ijk,j,k->i", LEVI_CIVITA, a, b)
LEVI_CIVITA = np.zeros((3, 3, 3))
for _i, _j, _k in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]:
    LEVI_CIVITA[_i, _j, _k], LEVI_CIVITA[_i, _k, _j] = 1.0, -1.0
del _i, _j, _k, _s


def quat_mul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product p*q, broadcasting over leading axes."""
    pw, px, py, pz = np.moveaxis(p, -1, 0)
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    return np.stack([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ], axis=-1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse for unit quaternions)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a x b along the last axis (broadcasting; faster than np.cross on small arrays)."""
    ax, ay, az = np.moveaxis(a, -1, 0)
    bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


def quat_rotate_inv(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate 3-vectors v by the inverse of unit quaternions q: world -> the frame q describes."""
    u = q[..., 1:]
    t = 2.0 * cross(u, v)
    return v - q[..., :1] * t + cross(u, t)


def normalize(q: np.ndarray) -> np.ndarray:
    """q / |q| along the last axis."""
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def axis_quat(axis: int, angle: np.ndarray) -> np.ndarray:
    """Quaternions of rotations by ``angle`` (radians, any shape) about coordinate axis 0, 1 or 2."""
    angle = np.asarray(angle, dtype=np.float64)
    q = np.zeros(angle.shape + (4,))
    q[..., 0] = np.cos(angle / 2)
    q[..., 1 + axis] = np.sin(angle / 2)
    return q


def yaw_quat(angle: float) -> np.ndarray:
    """Quaternion of a rotation by ``angle`` about +z."""
    return np.array([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])


_YAW_MUL_SIGN = np.array([-1.0, -1.0, 1.0, 1.0])


def yaw_mul(yq: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``quat_mul(yq, q)`` for rotations ``yq`` about +z (x = y = 0), in fewer operations;
    the same terms in the same order, so the same bits."""
    return yq[..., :1] * q + yq[..., 3:] * (q[..., ::-1] * _YAW_MUL_SIGN)


def rotz(angle: float) -> np.ndarray:
    """3x3 matrix of a rotation by ``angle`` about +z."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def wrap_pi(x):
    """Angles wrapped into [-pi, pi)."""
    return (x + np.pi) % (2 * np.pi) - np.pi


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def quat_from_mat(m: np.ndarray) -> np.ndarray:
    """Unit quaternions (w >= 0) of rotation matrices (..., 3, 3)."""
    m = np.asarray(m, dtype=np.float64)
    tr = np.trace(m, axis1=-2, axis2=-1)
    cands = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - tr, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - tr,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 + 2 * m[..., 2, 2] - tr], -1),
    ], axis=-2)  # each row is 4 q_k q (up to a factor); pick the best-conditioned
    norms = np.linalg.norm(cands, axis=-1)
    best = np.argmax(norms, axis=-1)
    idx = np.repeat(best[..., None, None], 4, axis=-1)
    q = np.take_along_axis(cands, idx, axis=-2)[..., 0, :]
    q = normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def quat_yaw(q: np.ndarray) -> np.ndarray:
    """Heading (rotation about +z) of the body x axis, for Z-up quaternions."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.arctan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z))


def quat_angle(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Angle (radians) of the rotation between unit quaternions p and q; sign-invariant."""
    d = quat_mul(quat_conj(normalize(p)), normalize(q))
    return 2.0 * np.arctan2(np.linalg.norm(d[..., 1:], axis=-1), np.abs(d[..., 0]))


def euler_xyz_from_quat(q: np.ndarray) -> np.ndarray:
    """Angles (a, b, c) with R(q) = Rx(a) Ry(b) Rz(c); q in the frame of the axes."""
    # only the five entries of quat_to_mat(q) needed, by the same expressions (same bits)
    w, x, y, z = np.moveaxis(q, -1, 0)
    r00 = 1 - 2 * (y * y + z * z)
    r01 = 2 * (x * y - w * z)
    r02 = 2 * (x * z + w * y)
    r12 = 2 * (y * z - w * x)
    r22 = 1 - 2 * (x * x + y * y)
    out = np.empty(np.shape(q)[:-1] + (3,))
    out[..., 0] = np.arctan2(-r12, r22)
    out[..., 1] = np.arcsin(np.clip(r02, -1.0, 1.0))
    out[..., 2] = np.arctan2(-r01, r00)
    return out


def euler_from_quat(q: np.ndarray, order: str) -> np.ndarray:
    """Angles (radians), one per axis of ``order`` (e.g. "ZXY"), with R(q) = R_o0(a0) R_o1(a1) R_o2(a2)."""
    axes = [AXIS[c] for c in order.upper()]
    if sorted(axes) != [0, 1, 2]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {order!r}")
    perm = np.zeros((3, 3))
    for new, old in enumerate(axes):
        perm[new, old] = 1.0  # e_old -> e_new
    sign = float(np.linalg.det(perm))
    m = perm @ quat_to_mat(np.asarray(q, dtype=np.float64)) @ perm.T
    # m = Rx(s a) Ry(s b) Rz(s c) with s = det(perm)
    sb = np.clip(m[..., 0, 2], -1.0, 1.0)
    b = np.arcsin(sb)
    locked = np.abs(sb) > 1.0 - 1e-12
    a = np.where(locked, np.arctan2(m[..., 2, 1], m[..., 1, 1]), np.arctan2(-m[..., 1, 2], m[..., 2, 2]))
    c = np.where(locked, 0.0, np.arctan2(-m[..., 0, 1], m[..., 0, 0]))
    return sign * np.stack([a, b, c], axis=-1)


def quat_from_euler(angles: np.ndarray, order: str) -> np.ndarray:
    """Inverse of :func:`euler_from_quat`."""
    angles = np.asarray(angles, dtype=np.float64)
    q = np.zeros(angles.shape[:-1] + (4,))
    q[..., 0] = 1.0
    for k, c in enumerate(order.upper()):
        q = quat_mul(q, axis_quat(AXIS[c], angles[..., k]))
    return q


def shortest_arc(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Quaternion of the smallest rotation taking direction u onto direction v."""
    u = np.asarray(u, dtype=np.float64) / np.linalg.norm(u)
    v = np.asarray(v, dtype=np.float64) / np.linalg.norm(v)
    d = float(np.dot(u, v))
    if d < -1.0 + 1e-12:  # opposite: half turn about any perpendicular axis
        axis = np.cross(u, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(u, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return np.array([0.0, *axis])
    return normalize(np.array([1.0 + d, *np.cross(u, v)]))


def twist_angle(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle in (-pi, pi] of the twist of q about the unit ``axis`` (swing-twist decomposition)."""
    proj = q[..., 1:] @ np.asarray(axis, dtype=np.float64)
    ang = 2.0 * np.arctan2(proj, q[..., 0])
    return (ang + np.pi) % (2 * np.pi) - np.pi


def continuous(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (F, 4) with w >= 0 in the first frame and no sign flips between frames."""
    q = normalize(q).copy()
    if q[0, 0] < 0:
        q[0] *= -1
    for i in range(1, len(q)):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] *= -1
    return q


def slerp_rows(q0: np.ndarray, q1: np.ndarray, w) -> np.ndarray:
    """Slerp of unit quaternions (..., n, 4) along the shortest arc; ``w`` a number or (..., 1)."""
    dot = np.einsum("...j,...j->...", q0, q1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)
    theta = np.maximum(np.arccos(np.minimum(np.abs(dot), 1.0)), 1e-9)
    inv = 1.0 / np.sin(theta)
    return (np.sin((1 - w) * theta) * inv)[..., None] * q0 + (np.sin(w * theta) * inv)[..., None] * q1


def yup_to_zup_vec(v: np.ndarray) -> np.ndarray:
    """(x, y, z) Y-up -> (x, -z, y) Z-up."""
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def zup_to_yup_vec(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`yup_to_zup_vec`: (x, y, z) Z-up -> (x, z, -y) Y-up."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


def yup_to_zup_quat(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) Y-up -> (w, x, -z, y) Z-up (conjugation by the axis change)."""
    return np.stack([q[..., 0], q[..., 1], -q[..., 3], q[..., 2]], axis=-1)
