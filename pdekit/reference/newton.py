"""Newton's method on the restricted system of a FEniCS reference, with pseudo-transient
continuation for steady problems whose Newton iteration does not converge from the start.

The unknowns are ``U = P z + g`` (:mod:`.fenics`: Dirichlet values ``g``, periodic sides
identified through ``P``), so Newton solves ``P^T R(P z + g) = 0``; each iteration assembles the
Jacobian once and factorises it with SciPy's sparse LU.  Pseudo-transient continuation (Kelley
and Keyes 1998) adds ``M (U - U_k) / tau`` on the rows of the evolving fields (``M`` their mass
matrix; constraint rows get none) and grows ``tau`` as the residual falls (switched evolution
relaxation: ``tau_k+1 = tau_k |R_k-1| / |R_k|``), so that the first iterations follow the flow to
its steady state and the last ones are Newton's.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from . import compat
from .compat import fem, ufl

__all__ = ["Newton", "NotConverged"]

GROWTH_MIN = 1.0
#: the residual reduction per iteration a kept (older) factorisation must still achieve
CONTRACTION = 0.2


class NotConverged(RuntimeError):
    """Newton's iteration did not reach the tolerance (or diverged)."""


class Newton:
    """Newton's method on ``P^T R(P z + g) = 0`` with SciPy's sparse LU.

    Args:
        space: the unknown's function space.
        residual_form: the UFL residual ``R(unknown; v)``.
        unknown: the Function the form is written in.
        settings: the reference settings (``newton_rtol``, ``newton_atol``, ``max_newton``).
        varying: constants that change between solves (times): a linear form whose matrix
            involves none of them is factorised once for all solves.
        reuse: keep a nonlinear problem's factorised Jacobian across iterations and solves (time
            steps) while each iteration still shrinks the residual by :data:`CONTRACTION`; where
            it does not, refactorise at the current iterate (stepping back if the residual grew).

    The restriction ``P`` (``(size, free)``) is set as the attribute ``P`` before solving.
    """

    def __init__(self, space, residual_form, unknown, settings, varying=(), reuse: bool = False):
        self.P, self.settings, self.unknown = None, settings, unknown
        jacobian = ufl.derivative(residual_form, unknown, ufl.TrialFunction(space))
        expanded = ufl.algorithms.expand_derivatives(jacobian)
        self.linear = unknown not in expanded.coefficients()
        self.frozen = self.linear and not set(expanded.constants()) & set(varying)
        self.reuse = reuse and not self.linear
        self.residual = fem.form(residual_form)
        self.jacobian = fem.form(jacobian)
        self._lu = None
        self.iterations = 0
        self.factorisations = 0
        self.continuation_steps = 0
        self.continuation_values = []

    def reduced_residual(self, U: np.ndarray) -> np.ndarray:
        self.unknown.x.array[:] = U
        return self.P.T @ compat.assemble_vector(self.residual)

    def jacobian_at(self, U: np.ndarray) -> scipy.sparse.csr_matrix:
        """The unrestricted Jacobian at ``U``."""
        self.unknown.x.array[:] = U
        return compat.assemble_matrix(self.jacobian)

    def reduced_jacobian(self, U: np.ndarray) -> scipy.sparse.csc_matrix:
        return (self.P.T @ self.jacobian_at(U) @ self.P).tocsc()

    def _factor(self, U):
        self._lu = _lu(self.reduced_jacobian(U))
        self.factorisations += 1
        return self._lu

    def _converged(self, norm: float, norm0: float) -> bool:
        return norm <= self.settings.newton_atol + self.settings.newton_rtol * norm0

    def solve(self, U: np.ndarray, when: str) -> np.ndarray:
        """Newton from ``U`` (which carries the Dirichlet values); raises :class:`NotConverged`."""
        norm0, last, kept = None, None, False  # last: (U, r, norm) before the latest update
        for iteration in range(self.settings.max_newton + 1):
            r = self.reduced_residual(U)
            norm = float(np.linalg.norm(r))
            norm0 = norm if norm0 is None else norm0
            refresh = self._lu is None or not (self.frozen or self.reuse)
            if kept and last is not None and not norm <= CONTRACTION * last[2]:
                refresh = True  # the kept factorisation no longer contracts: refactorise here
                if not norm <= last[2]:
                    U, r, norm = last  # it made things worse: step back first
            if not np.isfinite(norm) or norm > 1e3 * max(norm0, 1e-300):
                raise NotConverged(f"Newton diverged {when} (residual {norm:.3e} from {norm0:.3e}); "
                                   "reduce dt or refine the mesh")
            if self._converged(norm, norm0) and (iteration or norm == 0):
                return U
            lu = self._factor(U) if refresh else self._lu
            kept = self.reuse and not refresh
            last = (U, r, norm)
            U = U - self.P @ lu.solve(r)
            self.iterations += 1
            if self.linear:
                return U
        raise NotConverged(f"Newton did not converge {when}: residual {norm:.3e} after {self.settings.max_newton} "
                           f"iterations (start {norm0:.3e}); reduce dt or refine the mesh")

    def continuation(self, U: np.ndarray, mass: scipy.sparse.spmatrix, when: str, max_steps: int = 400) -> np.ndarray:
        """Pseudo-transient continuation from ``U`` with the evolving rows' mass matrix ``mass``
        (unrestricted, ``(size, size)``); ends when Newton's tolerance is met."""
        M = (self.P.T @ mass @ self.P).tocsc()
        r = self.reduced_residual(U)
        norm0 = norm = float(np.linalg.norm(r))
        J = self.reduced_jacobian(U)
        dynamic = M.diagonal() != 0
        # start where the pseudo-time term weighs as much as the operator on the evolving rows
        tau = float(np.abs(M.diagonal()[dynamic]).mean() / max(np.abs(J.diagonal()[dynamic]).mean(), 1e-300))
        for step in range(max_steps):
            if self._converged(norm, norm0) and (step or norm == 0):
                return U
            U = U - self.P @ _lu((J + M / tau).tocsc()).solve(r)
            self.continuation_steps += 1
            r = self.reduced_residual(U)
            previous, norm = norm, float(np.linalg.norm(r))
            if not np.isfinite(norm):
                raise NotConverged(f"pseudo-transient continuation diverged {when} (non-finite residual)")
            tau *= float(np.clip(previous / max(norm, 1e-300), GROWTH_MIN, 10.0)) if norm < previous else 0.5
            J = self.reduced_jacobian(U)
        raise NotConverged(f"pseudo-transient continuation did not converge {when}: residual {norm:.3e} after "
                           f"{max_steps} steps (start {norm0:.3e}); refine the mesh")


SINGULAR = ("the linearised system is singular ({}): a field whose level no condition fixes, or a constraint "
            "solved with an element pair that is not inf-sup stable")


def _lu(matrix):
    """A sparse LU of ``matrix``: MUMPS through PETSc where PETSc has it (measured four times faster
    than SciPy's SuperLU on a P2/P1 cavity system of 36k unknowns: 0.6 s against 2.5 s), else SuperLU."""
    if compat.PETSc.Sys.hasExternalPackage("mumps"):
        return _Mumps(matrix)
    try:
        return scipy.sparse.linalg.splu(matrix)
    except RuntimeError as error:
        raise RuntimeError(SINGULAR.format(error)) from None


class _Mumps:
    """MUMPS's LU of a SciPy matrix, with SciPy's ``solve(b)``."""

    def __init__(self, matrix):
        PETSc = compat.PETSc
        csr = scipy.sparse.csr_matrix(matrix)
        csr.sort_indices()
        self.matrix = PETSc.Mat().createAIJ(size=csr.shape, comm=PETSc.COMM_SELF, csr=(
            csr.indptr.astype(PETSc.IntType), csr.indices.astype(PETSc.IntType), csr.data.astype(PETSc.ScalarType)))
        self.ksp = PETSc.KSP().create(PETSc.COMM_SELF)
        self.ksp.setOperators(self.matrix)
        self.ksp.setType("preonly")
        pc = self.ksp.getPC()
        pc.setType("lu")
        pc.setFactorSolverType("mumps")
        try:
            self.ksp.setUp()
        except PETSc.Error as error:
            raise RuntimeError(SINGULAR.format(f"MUMPS: {error}")) from None
        self.b, self.x = self.matrix.createVecs()

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        self.b.array[:] = rhs
        self.ksp.solve(self.b, self.x)
        out = self.x.array.copy()
        if self.ksp.getConvergedReason() < 0 or not np.all(np.isfinite(out)):
            raise RuntimeError(SINGULAR.format(f"MUMPS: reason {self.ksp.getConvergedReason()}"))
        return out
