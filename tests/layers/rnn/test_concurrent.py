"""_concurrent: two directions' forward and backward on two threads equal running them in turn."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from birnn.layers.rnn import _concurrent


def test_gradients_equal_sequential_and_shared_inputs_are_summed():
    x = torch.randn(4, 3, requires_grad=True)
    w1, w2 = torch.randn(3, 2, requires_grad=True), torch.randn(3, 5, requires_grad=True)
    threads = []

    def first():
        threads.append(threading.get_ident())
        return [torch.tanh(x @ w1), None]

    def second():
        threads.append(threading.get_ident())
        return [torch.sigmoid(x @ w2)]

    (a, none), (b,) = _concurrent.concurrently([first, second], [x, w1, w2])
    assert none is None and len(set(threads)) == (2 if torch.get_num_threads() > 1 else 1)
    (a.sum() * 2 + (b * b).sum()).backward()
    got = [t.grad.clone() for t in (x, w1, w2)]
    for t in (x, w1, w2):
        t.grad = None
    (torch.tanh(x @ w1).sum() * 2 + (torch.sigmoid(x @ w2) ** 2).sum()).backward()
    for g, t in zip(got, (x, w1, w2)):
        torch.testing.assert_close(g, t.grad)


def test_without_grad_the_tasks_just_run():
    w = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        (a,), (b,) = _concurrent.concurrently([lambda: [w * 2], lambda: [w * 3]], [w])
    assert not a.requires_grad and b.tolist() == [3.0, 3.0]


def test_errors_in_a_task_propagate():
    def broken():
        raise ValueError("boom")

    w = torch.ones(1, requires_grad=True)
    try:
        _concurrent.concurrently([lambda: [w * 1], broken], [w])
    except ValueError as error:
        assert "boom" in str(error)
    else:
        raise AssertionError("the task's error was swallowed")


def test_each_task_runs_on_one_openmp_thread_and_the_caller_gets_its_threads_back():
    before = torch.get_num_threads()
    seen = _concurrent.in_parallel([torch.get_num_threads, torch.get_num_threads])
    assert torch.get_num_threads() == before
    if before >= 2 and _concurrent._openmp() is not None:
        assert seen == [1, 1]  # and the worker thread never starts an OpenMP team of its own
        assert _concurrent.in_parallel([lambda: 0, torch.get_num_threads])[1] == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
def test_the_callers_idle_openmp_workers_exit_before_the_directions_run():
    """A parallel operation leaves libgomp workers behind (spinning, then asleep); ``in_parallel``
    releases them before its tasks start, so none spins on the cores the directions use."""
    if torch.get_num_threads() < 2 or _concurrent._openmp() is None:
        pytest.skip("needs ATen on PyTorch's libgomp with two threads")
    if not hasattr(_concurrent._openmp(), "omp_pause_resource_all"):
        pytest.skip("this libgomp predates OpenMP 5.0's omp_pause_resource_all")

    def threads() -> set[str]:
        return set(os.listdir("/proc/self/task"))

    torch.ones(1 << 22).mul_(2.0)  # large enough to run on a team: its worker stays behind
    with_workers = threads()

    def gone_during_task() -> set[str]:
        for _ in range(200):  # the released workers exit within microseconds; allow for a slow machine
            gone = with_workers - threads()
            if gone:
                return gone
            time.sleep(0.005)
        return set()

    gone, _ = _concurrent.in_parallel([gone_during_task, lambda: None])
    assert gone, "the caller's OpenMP workers were still alive while the directions ran"
    torch.ones(1 << 22).mul_(2.0)  # and parallel operations afterwards start new ones
    assert torch.get_num_threads() >= 2


def test_summing_shared_gradients_never_writes_into_an_upstream_gradient():
    """The shared input's gradients are summed in place only into a tensor a task's backward pass made:
    a task that hands its input straight through returns the upstream gradient itself."""
    w = torch.ones(3, requires_grad=True)
    (a,), (b,) = _concurrent.concurrently([lambda: [w.view(3)], lambda: [w * 3]], [w])
    upstream_a, upstream_b = torch.full((3,), 5.0), torch.full((3,), 2.0)
    torch.autograd.backward([a, b], [upstream_a, upstream_b])
    assert w.grad.tolist() == [11.0, 11.0, 11.0]
    assert upstream_a.tolist() == [5.0, 5.0, 5.0] and upstream_b.tolist() == [2.0, 2.0, 2.0]


def test_shared_gradients_in_a_transposed_layout_are_summed_in_place():
    """A layer that reads a time-major sequence through a batch-major view hands back a non-contiguous
    but dense input gradient; the second direction's is added into the first's (no third buffer)."""
    x = torch.randn(3, 4, requires_grad=True)
    made: list[int] = []

    def task(scale: float):
        def run():
            time_major = x.t()
            time_major.register_hook(lambda g: made.append(g.untyped_storage().data_ptr()))
            return [time_major.contiguous() * scale]

        return run

    (a,), (b,) = _concurrent.concurrently([task(2.0), task(3.0)], [x])
    (dx,) = torch.autograd.grad([a, b], [x], [torch.ones(4, 3), torch.ones(4, 3)])
    torch.testing.assert_close(dx, torch.full((3, 4), 5.0))
    assert not dx.is_contiguous() and dx.untyped_storage().data_ptr() in made
