"""Geometries: seeded interior and boundary sampling, outward normals, side names, errors."""

from __future__ import annotations

import numpy as np
import pytest

from pdekit import Box, Disk, Interval, Polygon, Rectangle, TimeInterval

L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]
METHODS = ["uniform", "sobol", "grid"]


def geometries():
    return {
        "interval": Interval(-1.0, 2.0),
        "rectangle": Rectangle((0, -1), (2, 1)),
        "box": Box((0, 0, 0), (1, 2, 0.5)),
        "disk": Disk((0.5, -0.25), 0.75),
        "lshape": Polygon(L_SHAPE),
    }


GEOMETRIES = list(geometries())


# -- interior ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_sample_interior_exact_count_inside(name, method):
    geometry = geometries()[name]
    for n in (1, 37, 200):
        points = geometry.sample_interior(n, method, seed=3)
        assert points.shape == (n, geometry.dim)
        assert points.dtype == np.float64
        assert geometry.contains(points).all()
        assert np.all(points >= geometry.lower) and np.all(points <= geometry.upper)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_sample_interior_is_seeded(name, method):
    geometry = geometries()[name]
    n = 50  # not a full tensor grid in any dimension, so the seed picks which grid points
    first = geometry.sample_interior(n, method, seed=11)
    np.testing.assert_array_equal(first, geometries()[name].sample_interior(n, method, seed=11))
    if method == "grid" and geometry.dim == 1:
        # n grid points on an interval are exactly the n cell centres: nothing for a seed to pick
        np.testing.assert_array_equal(first, geometry.sample_interior(n, method, seed=12))
    else:
        assert not np.array_equal(first, geometry.sample_interior(n, method, seed=12))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_sample_interior_covers_the_domain(name, method):
    """Every quadrant of the bounding box that overlaps the domain gets its share of points."""
    geometry = geometries()[name]
    n = 2000
    points = geometry.sample_interior(n, method, seed=0)
    reference = geometry.sample_interior(20000, "uniform", seed=99)  # dense estimate of the shape
    centre = 0.5 * (geometry.lower + geometry.upper)

    def cells(p):
        return ((p > centre) * (2 ** np.arange(geometry.dim))).sum(axis=1)

    expected = np.bincount(cells(reference), minlength=2**geometry.dim) / len(reference)
    got = np.bincount(cells(points), minlength=2**geometry.dim) / n
    np.testing.assert_allclose(got, expected, atol=0.05)  # ~5 standard deviations for uniform


def test_grid_on_box_is_a_regular_grid_of_cell_centres():
    points = Rectangle((0, 0), (2, 1)).sample_interior(16, "grid")
    assert sorted(set(points[:, 0].round(12))) == [0.25, 0.75, 1.25, 1.75]
    assert sorted(set(points[:, 1].round(12))) == [0.125, 0.375, 0.625, 0.875]


def test_contains_distinguishes_inside_and_outside():
    lshape = Polygon(L_SHAPE)
    assert lshape.contains(np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.0, 0.0], [1.0, -1.0]])).all()
    assert not lshape.contains(np.array([[0.5, 0.5], [1.5, 0.0], [0.01, 0.01]])).any()
    disk = Disk((0, 0), 1)
    np.testing.assert_array_equal(disk.contains(np.array([[0, 0], [1, 0], [0.8, 0.8], [-1.01, 0]])),
                                  [True, True, False, False])
    box = Box((0, 0, 0), (1, 1, 1))
    np.testing.assert_array_equal(box.contains(np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 1.1]])), [True, False])


def test_volume():
    assert Polygon(L_SHAPE).volume() == pytest.approx(3.0)
    assert Polygon(L_SHAPE[::-1]).volume() == pytest.approx(3.0)
    assert Disk((0, 0), 2).volume() == pytest.approx(4 * np.pi)
    assert Rectangle((0, 0), (2, 3)).volume() == pytest.approx(6.0)
    assert Box((0, 0, 0), (1, 2, 3)).volume() == pytest.approx(6.0)


# -- boundary ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_sample_boundary_points_on_boundary_with_unit_normals(name, method):
    geometry = geometries()[name]
    n = 60
    sample = geometry.sample_boundary(n, method, seed=5)
    assert sample.points.shape == (n, geometry.dim)
    assert sample.normals.shape == (n, geometry.dim)
    assert sample.sides.shape == (n,)
    np.testing.assert_allclose(np.linalg.norm(sample.normals, axis=1), 1.0, rtol=1e-12)
    assert geometry.contains(sample.points).all()
    assert set(sample.sides) <= set(geometry.sides)
    for side in geometry.sides:  # each point lies on the side it is labelled with
        rows = sample.sides == side
        assert geometry.side_marker(side)(sample.points[rows].T).all()


@pytest.mark.parametrize("name", GEOMETRIES)
def test_sample_boundary_is_seeded(name):
    geometry = geometries()[name]
    first = geometry.sample_boundary(40, "uniform", seed=1)
    again = geometry.sample_boundary(40, "uniform", seed=1)
    np.testing.assert_array_equal(first.points, again.points)
    np.testing.assert_array_equal(first.sides, again.sides)
    if geometry.dim > 1:  # an interval's boundary is two points whatever the seed
        assert not np.array_equal(first.points, geometry.sample_boundary(40, "uniform", seed=2).points)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["rectangle", "disk", "lshape", "box", "interval"])
def test_normals_point_outward(name, method):
    geometry = geometries()[name]
    sample = geometry.sample_boundary(200, method, seed=0)
    eps = 1e-4
    outside = sample.points + eps * sample.normals
    inside = sample.points - eps * sample.normals
    # at the corners a nudge inward along one side's normal may run along the other side:
    # keep points at least 2 eps away from every vertex/corner
    away = np.ones(len(sample.points), dtype=bool)
    corners = _corners(geometry)
    if corners is not None:
        distance = np.linalg.norm(sample.points[:, None, :] - corners[None], axis=2).min(axis=1)
        away = distance > 2 * eps
    assert away.sum() > 0.9 * len(away)
    assert not geometry.contains(outside[away]).any()
    assert geometry.contains(inside[away]).all()


def _corners(geometry):
    if isinstance(geometry, Polygon):
        return geometry.vertices
    if isinstance(geometry, (Disk, Interval)):  # no corners (an interval's boundary is its two ends)
        return None
    grids = np.meshgrid(*[[lo, hi] for lo, hi in zip(geometry.lower, geometry.upper)], indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def test_rectangle_normals_per_side():
    sample = Rectangle((0, 0), (1, 1)).sample_boundary(40, seed=0)
    expected = {"left": [-1, 0], "right": [1, 0], "bottom": [0, -1], "top": [0, 1]}
    for side, normal in expected.items():
        rows = sample.sides == side
        assert rows.any()
        np.testing.assert_array_equal(sample.normals[rows], np.tile(normal, (rows.sum(), 1)))


def test_disk_normal_is_radial():
    disk = Disk((1.0, 2.0), 0.5)
    sample = disk.sample_boundary(30, seed=0)
    np.testing.assert_allclose(np.linalg.norm(sample.points - disk.center, axis=1), 0.5, rtol=1e-12)
    np.testing.assert_allclose(sample.normals, (sample.points - disk.center) / 0.5, atol=1e-12)


def test_polygon_normals_do_not_depend_on_vertex_order():
    ccw = Polygon(L_SHAPE).sample_boundary(100, seed=0)
    cw = Polygon(L_SHAPE[::-1]).sample_boundary(100, seed=0)
    for sample in (ccw, cw):  # either orientation: outward means out of the same L-shape
        eps = 1e-4
        geometry = Polygon(L_SHAPE)
        far = np.linalg.norm(sample.points[:, None] - geometry.vertices[None], axis=2).min(axis=1) > 1e-3
        assert not geometry.contains(sample.points[far] + eps * sample.normals[far]).any()
        assert geometry.contains(sample.points[far] - eps * sample.normals[far]).all()


# -- side names -------------------------------------------------------------------------------
def test_side_names_as_documented():
    assert Interval(0, 1).sides == ("left", "right")
    assert Rectangle((0, 0), (1, 1)).sides == ("left", "right", "bottom", "top")
    assert Box((0, 0, 0), (1, 1, 1)).sides == ("left", "right", "bottom", "top", "back", "front")
    assert Disk().sides == ("circle",)
    assert Polygon(L_SHAPE).sides == tuple(f"edge{i}" for i in range(6))


def test_polygon_edge_i_joins_vertex_i_to_i_plus_1():
    lshape = Polygon(L_SHAPE)
    sample = lshape.sample_boundary(120, seed=0)
    for i in range(6):
        start, end = np.array(L_SHAPE[i], float), np.array(L_SHAPE[(i + 1) % 6], float)
        rows = sample.points[sample.sides == f"edge{i}"]
        assert len(rows)
        along = end - start
        s = (rows - start) @ along / (along @ along)
        assert np.all((s >= -1e-12) & (s <= 1 + 1e-12))
        np.testing.assert_allclose(start + s[:, None] * along, rows, atol=1e-12)


def test_rectangle_side_placement():
    sample = Rectangle((0, -1), (2, 1)).sample_boundary(80, seed=0)
    pts, sides = sample.points, sample.sides
    np.testing.assert_array_equal(pts[sides == "left", 0], 0.0)
    np.testing.assert_array_equal(pts[sides == "right", 0], 2.0)
    np.testing.assert_array_equal(pts[sides == "bottom", 1], -1.0)
    np.testing.assert_array_equal(pts[sides == "top", 1], 1.0)


def test_interval_boundary_is_its_two_end_points():
    sample = Interval(-1.0, 2.0).sample_boundary(6, seed=0)
    np.testing.assert_array_equal(sample.points[sample.sides == "left"], -1.0)
    np.testing.assert_array_equal(sample.points[sample.sides == "right"], 2.0)
    np.testing.assert_array_equal(sample.normals[sample.sides == "left"], -1.0)
    np.testing.assert_array_equal(sample.normals[sample.sides == "right"], 1.0)
    assert (sample.sides == "left").sum() == 3 and (sample.sides == "right").sum() == 3


# -- counts proportional to side length -------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_boundary_counts_proportional_to_side_length(method):
    n = 300
    sample = Rectangle((0, 0), (3, 1)).sample_boundary(n, method, seed=0)
    counts = {side: int((sample.sides == side).sum()) for side in ("left", "right", "bottom", "top")}
    assert sum(counts.values()) == n
    for side, length in (("left", 1), ("right", 1), ("bottom", 3), ("top", 3)):
        assert abs(counts[side] - n * length / 8) <= 1


def test_polygon_counts_proportional_to_edge_length():
    n = 800
    sample = Polygon(L_SHAPE).sample_boundary(n, seed=0)
    lengths = [2, 1, 1, 1, 1, 2]  # perimeter 8
    for i, length in enumerate(lengths):
        assert abs((sample.sides == f"edge{i}").sum() - n * length / 8) <= 1


def test_box_counts_proportional_to_face_area():
    n = 220
    sample = Box((0, 0, 0), (1, 2, 3)).sample_boundary(n, seed=0)
    areas = {"left": 6, "right": 6, "bottom": 3, "top": 3, "back": 2, "front": 2}
    total = sum(areas.values())
    for side, area in areas.items():
        assert abs((sample.sides == side).sum() - n * area / total) <= 1


# -- markers ----------------------------------------------------------------------------------
def test_side_marker_is_component_first():
    rect = Rectangle((0, 0), (2, 1))
    x = np.array([[0.0, 2.0, 1.0, 1.0, 0.5],   # x coordinates of 5 points
                  [0.5, 0.5, 0.0, 1.0, 0.5]])  # y coordinates
    np.testing.assert_array_equal(rect.side_marker("left")(x), [True, False, False, False, False])
    np.testing.assert_array_equal(rect.side_marker("right")(x), [False, True, False, False, False])
    np.testing.assert_array_equal(rect.side_marker("bottom")(x), [False, False, True, False, False])
    np.testing.assert_array_equal(rect.side_marker("top")(x), [False, False, False, True, False])
    # a DOLFINx-style (3, N) array works too
    x3 = np.vstack([x, np.zeros(5)])
    np.testing.assert_array_equal(rect.side_marker("left")(x3), [True, False, False, False, False])


def test_side_marker_disk_and_polygon():
    disk = Disk((0, 0), 2)
    np.testing.assert_array_equal(disk.side_marker("circle")(np.array([[2.0, 0.0, 1.0], [0.0, 0.0, 1.0]])),
                                  [True, False, False])
    lshape = Polygon(L_SHAPE)
    x = np.array([[0.0, 0.0, 0.5, -1.0], [0.5, -0.5, 0.0, 0.0]])
    np.testing.assert_array_equal(lshape.side_marker("edge3")(x), [True, False, False, False])  # (0,0)-(0,1)
    np.testing.assert_array_equal(lshape.side_marker("edge2")(x), [False, False, True, False])  # (1,0)-(0,0)
    np.testing.assert_array_equal(lshape.side_marker("edge5")(x), [False, False, False, True])  # (-1,1)-(-1,-1)


def test_unknown_side_lists_sides():
    with pytest.raises(ValueError, match="no side 'north'") as info:
        Rectangle((0, 0), (1, 1)).side_marker("north")
    assert "left, right, bottom, top" in str(info.value)
    with pytest.raises(ValueError, match="circle"):
        Disk().side_marker("edge0")
    with pytest.raises(ValueError, match="edge0, edge1, edge2, edge3, edge4, edge5"):
        Polygon(L_SHAPE).side_marker("left")


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make, words", [
    (lambda: Interval(1, 0), ["empty or inverted", "axis 0"]),
    (lambda: Interval(1, 1), ["empty or inverted"]),
    (lambda: Rectangle((0, 0), (1, -1)), ["empty or inverted", "axis 1"]),
    (lambda: Rectangle((0, 0), (1, 1, 1)), ["Rectangle"]),
    (lambda: Box((0, 0, 0), (1, 1, 0)), ["empty or inverted", "axis 2"]),
    (lambda: Box((0, 0), (1, 1)), ["Box"]),
    (lambda: Interval(0, float("inf")), ["finite"]),
    (lambda: Disk((0, 0), 0), ["radius must be positive"]),
    (lambda: Disk((0, 0), -1), ["radius must be positive"]),
    (lambda: Disk((0, 0, 0), 1), ["2D point"]),
    (lambda: Polygon([(0, 0), (1, 1), (2, 2)]), ["zero area"]),
    (lambda: Polygon([(0, 0), (1, 0)]), ["at least three"]),
    (lambda: Polygon([(0, 0), (1, 0), (1, 0), (0, 1)]), ["coincide"]),
])
def test_invalid_domains_raise(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("name", GEOMETRIES)
def test_unknown_sampling_method_lists_methods(name):
    geometry = geometries()[name]
    for call in (geometry.sample_interior, geometry.sample_boundary):
        with pytest.raises(ValueError, match="'halton'") as info:
            call(10, "halton")
        assert "uniform, sobol, grid" in str(info.value)


@pytest.mark.parametrize("t0, t1", [(1, 0), (0, 0), (0, float("nan"))])
def test_time_interval_must_be_nonempty(t0, t1):
    with pytest.raises(ValueError):
        TimeInterval(t0, t1)


def test_time_interval_length():
    assert TimeInterval(0.5, 2.0).length == pytest.approx(1.5)


def test_difference_cuts_holes_with_named_sides_and_outward_normals():
    channel = Rectangle((0, 0), (2.2, 0.41)) - {"cylinder": Disk((0.2, 0.2), 0.05)}
    assert set(channel.sides) == {"left", "right", "bottom", "top", "cylinder"}
    assert channel.volume() == pytest.approx(2.2 * 0.41 - np.pi * 0.05**2)
    interior = channel.sample_interior(500, "uniform", seed=0)
    assert len(interior) == 500 and np.all(np.linalg.norm(interior - (0.2, 0.2), axis=1) >= 0.05)
    boundary = channel.sample_boundary(400, "uniform", seed=0)
    hole = boundary.select(boundary.sides == "cylinder")
    assert len(hole.points) > 0
    np.testing.assert_allclose(np.linalg.norm(hole.points - (0.2, 0.2), axis=1), 0.05)
    np.testing.assert_allclose(hole.normals, -(hole.points - (0.2, 0.2)) / 0.05, atol=1e-12)  # out of the fluid
    assert not channel.contains(hole.points + 1e-4 * hole.normals).any()


@pytest.mark.parametrize("holes, words", [
    ({"a": Disk((3.0, 0.2), 0.05)}, "strictly inside"),
    ({"a": Disk((0.5, 0.2), 0.1), "b": Disk((0.55, 0.2), 0.1)}, "overlap"),
    ({"a": Rectangle((0.1, 0.1), (0.2, 0.2))}, "Disk or Polygon"),
])
def test_difference_refuses_bad_holes(holes, words):
    with pytest.raises(ValueError, match=words):
        Rectangle((0, 0), (2.2, 0.41)) - holes
