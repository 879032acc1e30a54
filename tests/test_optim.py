"""The training loops' Adam/AdamW follow torch.optim's update step by step."""

import pytest

torch = pytest.importorskip("torch")

from cance_cli.training.optim import Adam, adamw  # noqa: E402


def _train(make_opt, steps: int = 25):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.SiLU(), torch.nn.Linear(8, 1))
    frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)  # never updated, never counted
    opt = make_opt([*net.parameters(), frozen])
    x, y = torch.randn(64, 5, generator=torch.Generator().manual_seed(1)), torch.randn(64, 1)
    for step in range(steps):
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step % 7 == 3:  # a step where one tensor has no gradient: its own step count must not advance
            net[0].bias.grad = None
        opt.step()
    return [p.detach().clone() for p in net.parameters()], frozen


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda p: Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    (lambda p: Adam(p, lr=1e-2, weight_decay=0.1), lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.1)),
    (lambda p: adamw(p, lr=1e-2, weight_decay=1e-4), lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-4)),
])
def test_same_trajectory_as_torch_optim(ours, theirs):
    mine, frozen = _train(ours)
    ref, _ = _train(theirs)
    for a, b in zip(mine, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert torch.equal(frozen, torch.ones(3))


def test_loss_decreases_and_zero_grad_keeps_buffers():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = Adam([w], lr=0.1)
    for _ in range(200):
        loss = (w**2).sum()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
    assert float((w**2).sum()) < 1e-2
