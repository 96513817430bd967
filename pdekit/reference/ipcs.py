"""Incremental pressure correction (IPCS, Goda 1979) for incompressible flow in the FEniCS reference.

Each step splits the coupled system in three solves on the same mixed space: a tentative
velocity ``u*`` from the momentum rows with the old pressure (theta scheme in the other terms,
Newton), a Poisson problem for the increment ``phi = p_new - p_old``,
``(grad phi, grad q) = -(c1 / dt) (div u*, q)``, and the projection
``u_new = u* - (dt / c1) grad phi``.  ``phi`` is zero where the boundary has no velocity
condition (an outflow) and otherwise fixed like the coupled scheme's pressure (zero mean or a
point).  Three smaller, better conditioned solves per step than the coupled system's, at the
price of a splitting error (first order in the pressure near walls).  The first step is the
coupled scheme's (:mod:`.fenics`): a constraint has no initial value, and the old pressure an
increment starts from must be consistent with the velocity.

It applies to a Problem whose structure it verifies: one scalar constraint field ``p`` entering
each momentum row's flux as ``p e_k`` and a constraint row whose flux is the velocity itself
(``div u = 0``), equal time coefficients on the momentum rows.
"""

from __future__ import annotations

import numpy as np

from . import compat
from .compat import fem, ufl
from .compat import mesh as dmesh
from .newton import Newton, _lu

__all__ = ["IPCS", "check_structure"]


def check_structure(problem) -> tuple[list[int], int, dict[int, int]]:
    """The momentum rows, the pressure component and each momentum row's direction; a
    ValueError saying what is missing where the problem is not incompressible flow."""
    def refuse(what):
        return ValueError(f"scheme='ipcs' needs incompressible flow: {what}; other problems: use implicit_euler or "
                          "crank_nicolson")

    if not problem.is_evolution or problem.equation.second_time_coefficient != 0:
        raise refuse("an evolution problem of first order in time")
    if problem.equation.weak_form is not None or problem.equation.flux is None:
        raise refuse("a flux (a weak_form hides the structure)")
    constraints = problem.constraint_fields
    if len(constraints) != 1 or problem.component_slice(constraints[0]).stop - problem.component_slice(constraints[0]).start != 1:
        raise refuse(f"exactly one scalar constraint field (the pressure), got {constraints or 'none'}")
    n, d = problem.n_components, problem.dim
    pressure = problem.component_slice(constraints[0]).start
    c1 = problem.time_coefficients
    momentum = [i for i in range(n) if i != pressure]
    if len(momentum) != d or len({c1[i] for i in momentum}) != 1 or not c1[momentum[0]]:
        raise refuse(f"{d} momentum rows with one nonzero time coefficient, got coefficients {c1}")
    x, t = problem.split_points(problem.sample_interior(4, seed=7))
    rng = np.random.default_rng(77)
    u, du = rng.uniform(0.5, 1.5, (n, 4)), rng.uniform(-1.0, 1.0, (n, d, 4))
    moved = u.copy()
    moved[pressure] += 1.0
    change = problem._rows(moved, du, x, t) - problem._rows(u, du, x, t)  # (n, d + 1, N)
    direction = {}
    for i in momentum:
        ones = [j for j in range(d) if np.allclose(change[i, j], 1.0)]
        zeros = [m for m in range(d + 1) if np.allclose(change[i, m], 0.0)]
        if len(ones) != 1 or len(zeros) != d:
            raise refuse(f"the pressure in row {i}'s flux as p e_k (p I in the momentum flux) and nowhere else")
        direction[i] = ones[0]
    if sorted(direction.values()) != list(range(d)):
        raise refuse("one momentum row per direction")
    rows = problem._rows(u, du, x, t)
    velocity = np.array([u[i] for i in sorted(momentum, key=direction.get)])
    if not (np.allclose(rows[pressure, :d], velocity) and np.allclose(rows[pressure, d], 0.0)):
        raise refuse("a constraint row div u = 0 (its flux the velocity, no source)")
    return momentum, pressure, direction


class IPCS:
    """The three solves of one IPCS step on a :class:`~pdekit.reference.fenics._Discretisation`.

    Args:
        disc: the discretisation; ``form`` the tentative step's residual (momentum rows, pressure
            as the unknown's, which this class fixes at the old values).
        fixed: the velocity's Dirichlet dofs; ``dt`` the step; ``varying`` the time constants,
            ``t_new`` the new time's.
    """

    def __init__(self, disc, settings, form, fixed: np.ndarray, dt: float, varying, t_new):
        problem = disc.problem
        self.disc, self.dt = disc, dt
        self.momentum, self.pressure, self.direction = check_structure(problem)
        self.c1 = problem.time_coefficients[self.momentum[0]]
        self.pdofs = disc.spaces.components[self.pressure][1]
        self.velocity_fixed = np.union1d(fixed, self.pdofs)
        self.newton = Newton(disc.space, form, disc.u, settings, varying=varying, reuse=True)
        self.newton.P = self.Pv = disc.restriction(self.velocity_fixed)
        tests, trial = disc.tests, disc.split(ufl.TrialFunction(disc.space))
        q, phi = tests[self.pressure], trial[self.pressure]
        laplacian = compat.assemble_matrix(fem.form(ufl.inner(ufl.grad(phi), ufl.grad(q)) * ufl.dx))
        open_dofs = self._open_boundary_dofs(fixed)
        others = np.setdiff1d(np.arange(disc.size), self.pdofs)
        self.free_level = len(open_dofs) == 0
        anchor = [disc.level_point(self.pressure)] if self.free_level else []
        self.Pp = disc.restriction(np.union1d(others, np.concatenate([open_dofs, anchor]).astype(np.int64)))
        self.poisson = _lu((self.Pp.T @ laplacian @ self.Pp).tocsc())
        self.divergence = fem.form(disc.operator(disc.split(disc.u), t_new, [self.pressure]))
        mass = compat.assemble_matrix(fem.form(sum(trial[i] * tests[i] for i in self.momentum) * ufl.dx))
        self.mass, self.mass_lu = mass, _lu((self.Pv.T @ mass @ self.Pv).tocsc())
        self.phi = fem.Function(disc.space)
        gradient = ufl.grad(disc.split(self.phi)[self.pressure])
        self.gradient = fem.form(sum(gradient[self.direction[i]] * tests[i] for i in self.momentum) * ufl.dx)
        self.weights = disc.mean_weights(self.pressure) if settings.pressure_level == "mean" else None
        self.factorisations = 2

    def _open_boundary_dofs(self, fixed) -> np.ndarray:
        """Pressure dofs on boundary facets where no velocity component has a Dirichlet
        condition (an outflow), periodic sides excepted."""
        disc, problem = self.disc, self.disc.problem
        from ..problem import Dirichlet
        from .fenics import _boundary_marker

        every = dmesh.locate_entities_boundary(disc.mesh, disc.fdim, lambda x: np.ones(x.shape[1], dtype=bool))
        walled = [dmesh.locate_entities_boundary(disc.mesh, disc.fdim, _boundary_marker(problem.geometry, c.on))
                  for c in problem.conditions_of(Dirichlet)
                  if set(range(disc.n)[problem.component_slice(c.field)]) & set(self.momentum)]
        geometry, tol = problem.geometry, 1e-8 * problem.geometry.diameter
        for axis in problem.periodic_axes:
            walled.append(dmesh.locate_entities_boundary(disc.mesh, disc.fdim, lambda x, a=axis: (
                np.abs(x[a] - geometry.lower[a]) < tol) | (np.abs(x[a] - geometry.upper[a]) < tol)))
        facets = np.setdiff1d(every, np.concatenate(walled) if walled else [])
        space, dofs = disc.spaces.components[self.pressure]
        return dofs[np.asarray(fem.locate_dofs_topological(space, disc.fdim, facets.astype(np.int32)), dtype=np.int64)]

    def step(self, U: np.ndarray, when: str) -> np.ndarray:
        """One step from ``U`` (the old state, its pressure consistent with its velocity, with
        the new velocity Dirichlet values)."""
        disc = self.disc
        tentative = self.newton.solve(U, when)
        disc.u.x.array[:] = tentative
        b = -(self.c1 / self.dt) * compat.assemble_vector(self.divergence)
        self.phi.x.array[:] = self.Pp @ self.poisson.solve(self.Pp.T @ b)
        correction = self.mass @ tentative - (self.dt / self.c1) * compat.assemble_vector(self.gradient)
        g = np.zeros(disc.size)
        g[self.velocity_fixed] = tentative[self.velocity_fixed]
        new = g + self.Pv @ self.mass_lu.solve(self.Pv.T @ (correction - self.mass @ g))
        new[self.pdofs] = tentative[self.pdofs] + self.phi.x.array[self.pdofs]
        if self.free_level and self.weights is not None:
            new[self.pdofs] -= (self.weights @ new) / self.weights.sum()
        return new

    @property
    def stats(self) -> dict:
        return {"newton_iterations": self.newton.iterations,
                "factorisations": self.newton.factorisations + self.factorisations,
                "continuation_steps": 0, "continuation_values": "", "free_levels": int(self.free_level)}

