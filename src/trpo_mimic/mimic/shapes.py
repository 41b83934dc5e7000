"""Triangle meshes of a MuJoCo model's geoms (spheres, capsules, cylinders, ellipsoids, boxes), shaped from its
types and sizes: what the live viewer draws (:mod:`.viewer`)."""
from __future__ import annotations

from typing import Any

import numpy as np


def _lathe(radius: np.ndarray, z: np.ndarray, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A surface of revolution about z: rings of ``radius`` at heights ``z``, from the top down; triangles wound
    counter-clockwise seen from outside."""
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    v = np.stack([np.outer(radius, np.cos(phi)), np.outer(radius, np.sin(phi)),
                  np.repeat(z[:, None], segments, 1)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(len(z) - 1), np.arange(segments), indexing="ij")
    a, b = i * segments + j, (i + 1) * segments + j
    c, d = (i + 1) * segments + (j + 1) % segments, i * segments + (j + 1) % segments
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return v, faces


def _capsule(r: float, half: float, rings: int = 8, segments: int = 20) -> tuple[np.ndarray, np.ndarray]:
    top = np.linspace(0.0, np.pi / 2, rings + 1)
    bottom = np.linspace(np.pi / 2, np.pi, rings + 1)
    theta = np.concatenate([top, bottom])
    z = r * np.cos(theta) + np.where(np.arange(len(theta)) <= rings, half, -half)
    return _lathe(r * np.sin(theta), z, segments)


def _box(half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """24 vertices (4 a face, so each face is flat), 12 triangles."""
    verts, faces = [], []
    for axis in range(3):
        for sign in (1.0, -1.0):
            u, w = (axis + 1) % 3, (axis + 2) % 3
            quad = []
            for du, dw in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u], p[w] = sign, du * sign, dw
                quad.append(p)
            k = len(verts)
            verts += quad
            faces += [(k, k + 1, k + 2), (k, k + 2, k + 3)]
    return np.array(verts) * half, np.array(faces)


def geom_shape(model: Any, g: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The vertices (V, 3) and triangles (F, 3) of geom ``g`` in its own frame, from its type and size; None for
    a plane (the viewer draws its own ground) and for a height field."""
    import mujoco
    t, size = int(model.geom_type[g]), np.asarray(model.geom_size[g], dtype=np.float64)
    G = mujoco.mjtGeom
    if t == G.mjGEOM_SPHERE:
        return _capsule(size[0], 0.0)
    if t == G.mjGEOM_CAPSULE:
        return _capsule(size[0], size[1])
    if t == G.mjGEOM_ELLIPSOID:
        v, f = _capsule(1.0, 0.0)
        return v * size, f
    if t == G.mjGEOM_CYLINDER:
        r, h = size[0], size[1]
        return _lathe(np.array([0.0, r, r, r, r, 0.0]), np.array([h, h, h, -h, -h, -h]), 24)
    if t == G.mjGEOM_BOX:
        return _box(size)
    if t == G.mjGEOM_MESH:
        m = int(model.geom_dataid[g])
        v0, nv = int(model.mesh_vertadr[m]), int(model.mesh_vertnum[m])
        f0, nf = int(model.mesh_faceadr[m]), int(model.mesh_facenum[m])
        return np.array(model.mesh_vert[v0:v0 + nv], dtype=np.float64), np.array(model.mesh_face[f0:f0 + nf])
    return None
