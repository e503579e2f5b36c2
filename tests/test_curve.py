import numpy as np
import pytest

from rlscaling.model.curve import curve_jacobian, curve_value, log_compute_to_reach, sigmoid


def test_sigmoid_matches_the_paper_formula_by_hand():
    # R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B), evaluated directly.
    a, b, c_mid, r0 = 0.61, 1.92, 2542.0, 0.2
    c = np.array([100.0, 2542.0, 1e5])
    expected = r0 + (a - r0) / (1 + (c_mid / c) ** b)
    np.testing.assert_allclose(sigmoid(c, a, b, c_mid, r0), expected, rtol=1e-12)
    assert sigmoid(c_mid, a, b, c_mid, r0)[()] == pytest.approx(r0 + (a - r0) / 2)


def test_huge_compute_does_not_overflow():
    # FLOPs-scale compute: (C_mid/C)^B would overflow for small C if formed directly.
    c = np.array([1e2, 1e20, 1e25])
    out = sigmoid(c, 0.8, 3.0, 1e22, 0.1)
    assert np.all(np.isfinite(out))
    assert out[0] == pytest.approx(0.1, abs=1e-12)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = np.log(np.geomspace(1e2, 1e6, 25))
    for _ in range(5):
        theta = np.array([rng.uniform(0.3, 0.9), rng.uniform(0.5, 3), rng.uniform(6, 12), 0.1])
        jac = curve_jacobian(x, theta)
        for i in range(4):
            h = 1e-6 * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            fd = (curve_value(x, tp) - curve_value(x, tm)) / (2 * h)
            np.testing.assert_allclose(jac[:, i], fd, rtol=1e-5, atol=1e-8)


def test_inverse_round_trips_and_rejects_unreachable():
    theta = np.array([0.7, 1.5, np.log(3000.0), 0.2])
    c = np.geomspace(10, 1e6, 9)
    r = curve_value(np.log(c), theta)
    np.testing.assert_allclose(np.exp(log_compute_to_reach(r, theta)), c, rtol=1e-8)
    assert np.isnan(log_compute_to_reach(0.75, theta))
    assert np.isnan(log_compute_to_reach(0.1, theta))


def test_batched_parameters_broadcast():
    theta = np.array([[0.6, 1.0, 5.0, 0.1], [0.8, 2.0, 6.0, 0.0]])
    x = np.linspace(3, 8, 7)
    out = curve_value(x, theta)
    assert out.shape == (2, 7)
    np.testing.assert_allclose(out[1], curve_value(x, theta[1]))
