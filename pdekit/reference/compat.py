"""The one place that knows DOLFINx versions: 0.5 (Debian) through the current conda-forge release.

Everything else in pdekit imports DOLFINx and UFL from here (``from .compat import fem, ufl``),
calls these helpers and never branches on the DOLFINx version.

Importing DOLFINx (0.5 to at least 0.7) sets ``sys.setdlopenflags(RTLD_NOW | RTLD_GLOBAL)`` for its
MPI libraries and leaves it set, so every extension loaded afterwards lands in the global symbol
namespace; the compiled kernels of ``torch.compile`` then collide on their same-named symbols and
crash.  The flags are restored here right after the import: DOLFINx's own modules are loaded by
then, and neither its FFCx-compiled forms nor gmsh need global symbols.  The root logging
handler that FFCx's import installs is taken off again, for the same reason: a side effect of
an import that every later part of the process would see.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import scipy.sparse

_flags, _root_handlers = sys.getdlopenflags(), list(logging.getLogger().handlers)
try:
    import dolfinx
    import dolfinx.fem.petsc  # noqa: F401 - the PETSc assemblers, a submodule loaded only on request
    import ufl
    from dolfinx import fem, geometry, mesh
    from mpi4py import MPI
    from petsc4py import PETSc
finally:
    # dolfinx keeps the flags it found (``stored_dlopen_flags``), also when it was imported before pdekit
    sys.setdlopenflags(getattr(sys.modules.get("dolfinx"), "stored_dlopen_flags", _flags))
    # FFCx's import calls logging.basicConfig(); through the root handler that adds, every form
    # compiled printed the C compiler's command lines (INFO from distutils). Leave the root as found.
    for _handler in list(logging.getLogger().handlers):
        if _handler not in _root_handlers:
            logging.getLogger().removeHandler(_handler)

__all__ = [
    "VERSION", "fem", "mesh", "ufl", "function_space", "mixed_space", "collapse", "discontinuous_space", "interval", "rectangle", "box",
    "gmsh_to_mesh", "constant", "assemble_matrix", "assemble_vector", "locate_cells", "cell_diameters",
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


def mixed_space(msh, parts):
    """The mixed space of Lagrange elements, one per ``(degree, components)`` in ``parts``."""
    if VERSION < (0, 7):
        cell = msh.ufl_cell()
        elements = [ufl.FiniteElement("Lagrange", cell, degree) if components == 1 else
                    ufl.VectorElement("Lagrange", cell, degree, dim=components) for degree, components in parts]
        return fem.FunctionSpace(msh, ufl.MixedElement(elements))
    import basix.ufl

    cell = msh.topology.cell_name()
    elements = [basix.ufl.element("Lagrange", cell, degree, shape=() if components == 1 else (components,))
                for degree, components in parts]
    return fem.functionspace(msh, basix.ufl.mixed_element(elements))


def collapse(subspace) -> tuple:
    """A subspace as a space of its own and the indices of its dofs in the parent's dof array."""
    space, dofs = subspace.collapse()
    return space, np.asarray(dofs, dtype=np.int64)


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


def assemble_matrix(form) -> scipy.sparse.csr_matrix:
    """Assemble a bilinear form (no boundary conditions) into a SciPy CSR matrix."""
    matrix = fem.petsc.assemble_matrix(form)
    matrix.assemble()
    indptr, indices, data = matrix.getValuesCSR()
    shape = matrix.getSize()
    matrix.destroy()
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)


def assemble_vector(form) -> np.ndarray:
    """Assemble a linear form into a NumPy array."""
    vector = fem.petsc.assemble_vector(form)
    vector.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    values = vector.array.copy()
    vector.destroy()
    return values


def locate_cells(msh, points: np.ndarray, reach: float = 0.5) -> np.ndarray:
    """For ``(N, 3)`` points, the index of a cell containing each; ``-1`` outside the mesh.

    A point in no cell whose nearest cell lies within ``reach`` times that cell's diameter gets
    the nearest cell, where the caller evaluates by extrapolating the cell's polynomial: that
    is the sliver between a curved boundary and the mesh of it (``O(h^2)`` wide for straight
    edges, ``O(h^3)`` for curved cells, whose bulge the collision test of DOLFINx 0.5 misses).
    """
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
    missing = np.nonzero(cells < 0)[0]
    if len(missing):
        entities = np.arange(msh.topology.index_map(tdim).size_local, dtype=np.int32)
        midpoints = geometry.create_midpoint_tree(msh, tdim, entities)
        nearest = np.asarray(geometry.compute_closest_entity(tree, midpoints, msh, points[missing]), dtype=np.int32)
        distance = np.sqrt(geometry.squared_distance(msh, tdim, nearest, points[missing]))
        near = distance <= reach * cell_diameters(msh, nearest)
        cells[missing[near]] = nearest[near]
    return cells


def cell_diameters(msh, cells: np.ndarray) -> np.ndarray:
    """The largest distance between two vertices of each of ``cells``."""
    cells = np.asarray(cells, dtype=np.int32)
    tdim = msh.topology.dim
    if hasattr(msh, "h"):  # 0.8+
        return msh.h(tdim, cells)
    cpp = getattr(msh, "_cpp_object", None) or msh._mesh  # 0.7 / 0.5
    return dolfinx.cpp.mesh.h(cpp, tdim, cells)
