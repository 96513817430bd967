"""The one place that knows DOLFINx versions: 0.5 (Debian) through the current conda-forge release.

Everything else in pdekit calls these helpers and never branches on the DOLFINx version.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

import dolfinx
from dolfinx import fem, geometry, mesh
from mpi4py import MPI

__all__ = [
    "VERSION", "function_space", "discontinuous_space", "interval", "rectangle", "box", "gmsh_to_mesh", "constant",
    "assemble_matrix", "assemble_vector", "locate_cells",
]

VERSION = tuple(int(part) for part in dolfinx.__version__.split(".")[:2])
COMM = MPI.COMM_SELF  # references are small and serial: one process, one mesh


def function_space(msh, degree: int, components: int):
    """Lagrange space of ``degree`` with ``components`` values per node (1: scalar)."""
    if VERSION < (0, 7):
        if components == 1:
            return fem.FunctionSpace(msh, ("Lagrange", degree))
        return fem.VectorFunctionSpace(msh, ("Lagrange", degree), dim=components)
    shape = () if components == 1 else (components,)
    return fem.functionspace(msh, ("Lagrange", degree, shape))


def discontinuous_space(msh):
    """Piecewise constants (DG0): one value per cell."""
    if VERSION < (0, 7):
        return fem.FunctionSpace(msh, ("DG", 0))
    return fem.functionspace(msh, ("DG", 0))


def interval(n: int, a: float, b: float):
    return mesh.create_interval(comm=COMM, nx=n, points=[a, b])


def rectangle(lower, upper, n):
    return mesh.create_rectangle(comm=COMM, points=[list(lower), list(upper)], n=list(n),
                                 cell_type=mesh.CellType.triangle)


def box(lower, upper, n):
    return mesh.create_box(comm=COMM, points=[list(lower), list(upper)], n=list(n),
                           cell_type=mesh.CellType.tetrahedron)


def gmsh_to_mesh(model, gdim: int):
    """The DOLFINx mesh of the current gmsh model (the reader moved in 0.10)."""
    try:
        from dolfinx.io import gmshio as reader
    except ImportError:  # 0.10+
        from dolfinx.io import gmsh as reader
    result = reader.model_to_mesh(model, COMM, 0, gdim=gdim)
    return result.mesh if hasattr(result, "mesh") else result[0]


def constant(msh, value: float):
    scalar = dolfinx.default_scalar_type if hasattr(dolfinx, "default_scalar_type") else np.float64
    return fem.Constant(msh, scalar(value))


def _petsc():
    import dolfinx.fem.petsc  # noqa: F401 - registers the submodule

    return fem.petsc


def assemble_matrix(form) -> scipy.sparse.csr_matrix:
    """Assemble a bilinear form (no boundary conditions) into a SciPy CSR matrix."""
    matrix = _petsc().assemble_matrix(form)
    matrix.assemble()
    indptr, indices, data = matrix.getValuesCSR()
    shape = matrix.getSize()
    matrix.destroy()
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)


def assemble_vector(form) -> np.ndarray:
    """Assemble a linear form into a NumPy array."""
    from petsc4py import PETSc

    vector = _petsc().assemble_vector(form)
    vector.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    values = vector.array.copy()
    vector.destroy()
    return values


def locate_cells(msh, points: np.ndarray) -> np.ndarray:
    """For ``(N, 3)`` points, the index of a cell containing each (``-1`` outside the mesh)."""
    tdim = msh.topology.dim
    if VERSION < (0, 7):
        tree = geometry.BoundingBoxTree(msh, tdim)
        candidates = geometry.compute_collisions(tree, points)
    else:
        tree = geometry.bb_tree(msh, tdim)
        candidates = geometry.compute_collisions_points(tree, points)
    colliding = geometry.compute_colliding_cells(msh, candidates, points)
    cells = np.full(len(points), -1, dtype=np.int32)
    for i in range(len(points)):
        links = colliding.links(i)
        if len(links):
            cells[i] = links[0]
    return cells
