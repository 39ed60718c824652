import pytest
import torch

from bnnbo import DataError, Float, Integer, get_problem

LEVELS = {
    1: [0.7, 1, 1.4, 1.7, 2],
    2: [12, 15, 18, 21, 24],
    3: [0.12, 0.135, 0.15, 0.165, 0.18],
    5: [16, 20, 26, 28],
    6: [0.41, 0.6, 0.84, 1.32],
}


def bo_pr_oil(x):
    """bo_pr's OilSorbent.evaluate_true written out term by term (an independent transcription
    of the source's expressions; the module parses a coefficient table instead)."""
    x = [float(v) for v in x]
    for c, vals in LEVELS.items():
        x[c] = vals[int(x[c])] / max(vals)
    V1, V2, V3, V4, V5, V6, V7 = x
    wca = (
        -197.0928
        - 78.3309 * V1
        + 98.6355 * V2
        + 300.0701 * V3
        + 89.8360 * V4
        + 208.2343 * V5
        + 332.9341 * V6
        + 135.6621 * V7
        - 11.0715 * V1 * V2
        + 201.8934 * V1 * V3
        + 17.1270 * V1 * V4
        + 2.5198 * V1 * V5
        - 109.3922 * V1 * V6
        + 30.1607 * V1 * V7
        - 46.1790 * V2 * V3
        + 19.2888 * V2 * V4
        - 102.9493 * V2 * V5
        - 19.1245 * V2 * V6
        + 53.6297 * V2 * V7
        - 73.0649 * V3 * V4
        - 37.7181 * V3 * V5
        - 219.1268 * V3 * V6
        - 55.3704 * V3 * V7
        + 3.8778 * V4 * V5
        - 6.9252 * V4 * V6
        - 105.1650 * V4 * V7
        - 34.3181 * V5 * V6
        - 36.3892 * V5 * V7
        - 82.3222 * V6 * V7
        - 16.7536 * V1**2
        - 45.6507 * V2**2
        - 91.4134 * V3**2
        - 76.8701 * V5**2
    )
    q = (
        -212.8531
        + 245.7998 * V1
        - 127.3395 * V2
        + 305.8461 * V3
        + 638.1605 * V4
        + 301.2118 * V5
        - 451.3796 * V6
        - 115.5485 * V7
        + 42.8351 * V1 * V2
        + 262.3775 * V1 * V3
        - 103.5274 * V1 * V4
        - 196.1568 * V1 * V5
        - 394.7975 * V1 * V6
        - 176.3341 * V1 * V7
        + 74.8291 * V2 * V3
        + 4.1557 * V2 * V4
        - 133.8683 * V2 * V5
        + 65.8711 * V2 * V6
        - 42.6911 * V2 * V7
        - 323.9363 * V3 * V4
        - 107.3983 * V3 * V5
        - 323.2353 * V3 * V6
        + 46.9172 * V3 * V7
        - 144.4199 * V4 * V5
        + 272.3729 * V4 * V6
        + 49.0799 * V4 * V7
        + 318.4706 * V5 * V6
        - 236.2498 * V5 * V7
        + 252.4848 * V6 * V7
        - 286.0182 * V4**2
        + 393.5992 * V6**2
    )
    sigma = (
        7.7696
        + 15.4344 * V1
        - 10.6190 * V2
        - 17.9367 * V3
        + 17.1385 * V4
        + 2.5026 * V5
        - 24.3010 * V6
        + 10.6058 * V7
        - 1.2041 * V1 * V2
        - 37.2207 * V1 * V3
        - 3.2265 * V1 * V4
        + 7.3121 * V1 * V5
        + 52.3994 * V1 * V6
        + 9.7485 * V1 * V7
        - 15.9371 * V2 * V3
        - 1.1706 * V2 * V4
        - 2.6297 * V2 * V5
        + 7.0225 * V2 * V6
        - 1.4938 * V2 * V7
        + 30.2786 * V3 * V4
        + 14.5061 * V3 * V5
        + 48.5021 * V3 * V6
        - 11.4857 * V3 * V7
        - 3.1381 * V4 * V5
        - 14.9747 * V4 * V6
        + 4.5204 * V4 * V7
        - 17.6907 * V5 * V6
        - 19.2489 * V5 * V7
        - 9.8219 * V6 * V7
        - 18.7356 * V1**2
        + 12.1928 * V2**2
        - 17.5460 * V4**2
        + 5.4997 * V5**2
        - 26.2718 * V6**2
    )
    return [wca, q, sigma]  # bo_pr returns the negation and minimises; here they are maximised


def test_space_ref_point_and_budget():
    p = get_problem("oil")
    kinds = [type(q) for q in p.space.parameters]
    assert kinds == [Float, Integer, Integer, Integer, Float, Integer, Integer]
    assert list(p.space.discrete_dims.values()) == [5, 5, 5, 4, 4]
    # bo_pr's _ref_point [-125.3865, -57.8292, 43.2665] negated, as BoTorch's negate=True does
    assert p.ref_point.tolist() == [125.3865, 57.8292, -43.2665]
    assert (p.num_objectives, p.negated) == (3, False)
    assert p.paper_budget == {"n_init": 100, "q": 10, "iterations": 10}
    with pytest.raises(DataError):
        p.evaluate(torch.tensor([[0.5, 4, 4, 4, 0.5, 4, 0]], dtype=torch.float64))  # V6 has 4 levels


def test_matches_bo_pr_transcription():
    p = get_problem("oil")
    X = p.space.sobol(300, seed=5)
    expected = torch.tensor([bo_pr_oil(x) for x in X], dtype=torch.float64)
    assert torch.allclose(p.evaluate(X), expected, rtol=0, atol=1e-10)


def test_values_at_fixed_points():
    # computed once; they agree with bo_pr_oil above. At the top corner every scaled input is 1,
    # so each value is the sum of its polynomial's coefficients (WCA: 48.6414 by hand).
    X = torch.tensor([[0.0, 0, 0, 0, 0, 0, 0], [1, 4, 4, 4, 1, 3, 3], [0.5, 2, 1, 3, 0.25, 1, 2]], dtype=torch.float64)
    expected = [
        [115.13212533766233, 16.81322513785811, -5.130011756235826],
        [48.6414000000002, -101.74240000000043, -9.219499999999993],
        [156.27462482196978, 70.60160348639465, -1.9574681663316795],
    ]
    assert get_problem("oil").evaluate(X).tolist() == [pytest.approx(r, abs=1e-9) for r in expected]


@pytest.mark.slow
def test_bo_pr_max_hv_is_not_the_maximum():
    # a 21 x 21 grid over (V1, V5) x all 2,000 level combinations dominates more than bo_pr's
    # "_max_hv = 1279774.75", so max_hv stays unknown (a 41 x 41 grid reaches 1,476,740)
    from botorch.utils.multi_objective.box_decompositions import DominatedPartitioning
    from botorch.utils.multi_objective.pareto import is_non_dominated

    p = get_problem("oil")
    assert p.max_hv is None
    g = torch.linspace(0, 1, 21, dtype=torch.float64)
    levels = torch.cartesian_prod(*[torch.arange(k, dtype=torch.float64) for k in (5, 5, 5, 4, 4)])
    front = []
    for chunk in levels.split(100):
        X = torch.cartesian_prod(g, g, torch.arange(len(chunk), dtype=torch.float64))
        L = chunk[X[:, 2].long()]
        X = torch.cat([X[:, :1], L[:, :3], X[:, 1:2], L[:, 3:]], -1)
        Y = p.evaluate(X)
        Y = Y[(Y > p.ref_point).all(-1)]
        front.append(Y[is_non_dominated(Y)])
    Y = torch.cat(front)
    hv = DominatedPartitioning(ref_point=p.ref_point, Y=Y[is_non_dominated(Y)]).compute_hypervolume()
    assert hv.item() > 1279774.75
