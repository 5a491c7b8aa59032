"""Smoke test of the benchmark suite's machinery (``benchmarks/``): no timing assertions.

Runs the real command line on toy sizes with one repetition, for the birnn and plain-PyTorch
peers only (each in its own worker subprocess), and checks that the report files are written
and hold what the report promises.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from benchmarks import cases, main
from benchmarks.report import entries, to_markdown

pytestmark = pytest.mark.slow  # four worker processes: ~10-30 s depending on machine load


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    code = main(
        [
            "--tiny",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--peers",
            "birnn",
            "torch_nn",
            "--cases",
            "inference",
            "masked_lstm_train",
            "--out",
            str(out),
            "--max-wait",
            "0",
            "--retries",
            "0",
        ]
    )
    assert code == 0
    return out


def test_report_files_are_written(results_dir: Path) -> None:
    for name in ("benchmark.md", "benchmark.json", "benchmark.png"):
        assert (results_dir / name).stat().st_size > 0
    assert (results_dir / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_has_a_timed_row_per_peer_and_case(results_dir: Path) -> None:
    results = json.loads((results_dir / "benchmark.json").read_text())
    timed = {(row["case"], row["peer"]) for row in results["rows"] if row.get("median_ms") is not None}
    assert timed == {(c, p) for c in ("inference", "masked_lstm_train") for p in ("birnn", "torch_nn")}
    assert not [row for row in results["rows"] if "error" in row]
    assert results["config"]["tiny"] is True


def test_markdown_has_medians_ratios_and_memory(results_dir: Path) -> None:
    markdown = (results_dir / "benchmark.md").read_text()
    assert "| case | birnn |" in markdown and "| PyTorch nn |" in markdown
    assert "birnn ÷ PyTorch" in markdown and "× fastest peer" in markdown
    results = json.loads((results_dir / "benchmark.json").read_text())
    assert to_markdown(results) == markdown
    baseline = [e for e in entries(results) if e.peer == "torch_nn" and not e.variant]
    assert all(e.vs_baseline == pytest.approx(1.0) for e in baseline)
    training = [e for e in entries(results) if e.case == "masked_lstm_train" and e.median_ms is not None]
    assert all(e.peak_mib is not None and e.peak_mib >= 0 for e in training)


def test_case_selection() -> None:
    assert [c.name for c in cases.select(["main"])] == [c.name for c in cases.MAIN_CASES]
    assert len(cases.select(["all"])) == sum(len(group) for name, group in cases.GROUPS.items() if name != "all") == 15
    assert [c.directions for c in cases.select(["one_direction"])] == [1, 1]
    assert [(c.task, c.directions, c.batch) for c in cases.select(["same_kernel"])] == [("inference", 1, 64),
                                                                                        ("inference", 1, 4)]
    with pytest.raises(ValueError, match="one direction has no mask case"):
        cases.Case("x", "x", masked=True, directions=1)
    assert [(c.reset_after, c.recurrent_dropout) for c in cases.select(["variants"])] == [(False, 0.0), (True, 0.2)]
    assert cases.select(["lstm_train", "main"])[0].name == "lstm_train"
    with pytest.raises(ValueError, match="unknown case"):
        cases.select(["nope"])


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("kind", ["gru_reset_before", "lstm_relu", "lstm_recurrent_dropout"])
def test_plain_pytorch_hand_loops_are_kerass_layers(kind: str, backwards: bool) -> None:
    """The plain-PyTorch peer's hand-written loops compute what birnn's layers (checked against Keras by the
    oracle tests) do with the same weights, so the two peers time the same model; with recurrent dropout
    (at inference, none) a training call draws one mask and changes the result."""
    from birnn.layers import GRU, LSTM

    from benchmarks.peers.torch_nn import LoopLSTM, ResetBeforeGRU

    torch.manual_seed(0)
    if kind == "gru_reset_before":
        ours, make = ResetBeforeGRU(3, 4, backwards), lambda **kw: GRU(4, reset_after=False, **kw)
    elif kind == "lstm_relu":
        ours, make = LoopLSTM(3, 4, activation=torch.relu, backwards=backwards), lambda **kw: LSTM(4, activation="relu", **kw)
    else:
        ours, make = LoopLSTM(3, 4, backwards=backwards, recurrent_dropout=0.5), lambda **kw: LSTM(4, **kw)
    with torch.no_grad():
        ours.bias.normal_()
    x = torch.randn(2, 5, 3)
    ours.eval()
    for return_sequences in (True, False):
        layer = make(go_backwards=backwards, return_sequences=return_sequences)
        layer.build(x.shape)
        layer.set_weights([w.detach().t().numpy() for w in (ours.weight_ih, ours.weight_hh)] + [ours.bias.detach().numpy()])
        want = layer(x)
        if return_sequences and backwards:  # birnn returns processing order, the peer input time order
            want = want.flip(1)
        torch.testing.assert_close(ours(x, return_sequences=return_sequences), want, atol=1e-5, rtol=0)
    if kind == "lstm_recurrent_dropout":
        plain = ours(x, return_sequences=True)
        ours.train()
        assert not torch.allclose(ours(x, return_sequences=True), plain)


def test_masked_batch_is_right_padded() -> None:
    case = cases.select(["masked_lstm_train"])[0]
    batch = cases.make_batch(case)
    assert batch.lengths is not None and batch.mask is not None
    assert batch.lengths.min() >= 10 and batch.lengths.max() <= 100
    assert (batch.mask.sum(axis=1) == batch.lengths).all()
    assert (batch.mask[:, :10]).all()
    assert 45 < batch.lengths.mean() < 65


def test_merge_replaces_remeasured_cases(results_dir: Path) -> None:
    from benchmarks.merge import merge_results

    old = json.loads((results_dir / "benchmark.json").read_text())
    new = {
        **old,
        "cases": [c for c in old["cases"] if c["name"] == "inference"],
        "rows": [{**r, "median_ms": 1.0} for r in old["rows"] if r["case"] == "inference"],
        "runs": [{**old["runs"][0], "cases": ["inference"], "started": "later"}],
    }
    merged = merge_results(old, new)
    assert [c["name"] for c in merged["cases"]] == ["inference", "masked_lstm_train"]
    assert {r["median_ms"] for r in merged["rows"] if r["case"] == "inference" and "median_ms" in r} == {1.0}
    assert [r for r in merged["rows"] if r["case"] == "masked_lstm_train"] == [
        r for r in old["rows"] if r["case"] == "masked_lstm_train"
    ]
    assert [run["cases"] for run in merged["runs"]] == [["masked_lstm_train"], ["inference"]]
    assert "later" in to_markdown(merged)


def test_json_rows_say_whether_the_step_stayed_finite(results_dir: Path) -> None:
    data = json.loads((results_dir / "benchmark.json").read_text())
    timed = [row for row in data["rows"] if "median_ms" in row]
    assert timed and all(row["finite"] is True for row in timed)


def test_non_finite_results_are_detected_and_noted() -> None:
    import numpy as np
    import torch

    from benchmarks.report import _note
    from benchmarks.worker import finite

    assert finite(torch.tensor(1.5)) and finite([0.5, np.ones(3)]) and finite(None)
    assert not finite(torch.tensor([1.0, float("nan")]))
    assert not finite([0.5, float("inf")])
    assert "diverged" in _note({"finite": False}) and _note({"finite": True}) == ""


def test_shared_rmsprop_is_kerass() -> None:
    """Epsilon inside the root, as Keras and birnn.optimizers.RMSprop compute it."""
    import torch

    from benchmarks.peers.torch_common import KerasRMSprop
    from birnn.optimizers import RMSprop

    torch.manual_seed(0)
    a, b = torch.randn(5, requires_grad=True), torch.randn(3, 2, requires_grad=True)
    ours = [p.detach().clone().requires_grad_() for p in (a, b)]
    reference = [p.detach().clone().requires_grad_() for p in (a, b)]
    opt, ref = KerasRMSprop(ours), RMSprop()
    for step in range(3):
        for params in (ours, reference):
            for p in params:
                p.grad = None
            (params[0].sin().sum() * 1e-3 + (params[1] ** 3).sum()).backward()
        opt.step()
        ref.apply(reference)
    for got, want in zip(ours, reference):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    v = torch.tensor([1e-4])  # by hand for one tiny gradient: lr g / sqrt(0.1 g^2 + eps)
    p = torch.zeros(1, requires_grad=True)
    opt = KerasRMSprop([p])
    p.grad = v.clone()
    opt.step()
    torch.testing.assert_close(p.detach(), -1e-3 * v / torch.sqrt(0.1 * v * v + 1e-7))


def test_every_timed_step_restarts_from_the_snapshot() -> None:
    """The worker's restart: ``before`` runs (untimed) before each timed repetition, and a torch
    snapshot puts trained weights back in place."""
    import torch

    from benchmarks.measure import time_step
    from benchmarks.peers.torch_common import weights_snapshot

    calls: list[str] = []
    time_step(lambda: calls.append("step"), warmup=2, repeats=3, before=lambda: calls.append("before"))
    assert calls == ["step", "step"] + ["before", "step"] * 3

    model = torch.nn.Linear(3, 2)
    restore = weights_snapshot(model)()
    original = [p.detach().clone() for p in model.parameters()]
    pointers = [p.data_ptr() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    restore()
    assert all(torch.equal(p, o) for p, o in zip(model.parameters(), original))
    assert [p.data_ptr() for p in model.parameters()] == pointers  # in place: optimizers keep their references


def test_json_rows_say_the_training_steps_restarted(results_dir: Path) -> None:
    data = json.loads((results_dir / "benchmark.json").read_text())
    training = [row for row in data["rows"] if "median_ms" in row and row["case"] != "inference"]
    assert training and all(row["restarted"] for row in training)


def test_rounds_alternate_the_peer_order_and_pool_each_peers_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--rounds 3``: peers run A B, B A, A B within each case; a peer's row holds the steps of all its
    rounds (median and minimum over them, each round's median kept), its largest peak memory, and a
    variant skipped in some round stays skipped. No worker is started (the measurement is faked)."""
    from benchmarks import suite

    calls: list[str] = []

    def fake(config: suite.SuiteConfig, peer: str, case: cases.Case, log: object) -> dict:
        calls.append(peer)
        n = len(calls)
        variants = [{"variant": "", "times_ms": [float(n), float(n + 10)], "median_ms": n + 5.0, "min_ms": float(n),
                     "finite": True, "peak_mib": float(n)}]
        variants.append({"variant": "extra", "skipped": "not here"} if n == 1 else
                        {"variant": "extra", "times_ms": [1.0], "median_ms": 1.0, "min_ms": 1.0, "finite": True})
        return {"variants": variants, "foreign_cores": 0.0, "attempt": 1}

    monkeypatch.setattr(suite, "run_quietly", fake)
    monkeypatch.setattr(suite, "missing_requirement", lambda spec: None)
    config = suite.SuiteConfig(cases=tuple(cases.select(["lstm_train"])), peers=("birnn", "torch_nn"), rounds=3)
    results = suite.run_suite(config)
    assert calls == ["birnn", "torch_nn", "torch_nn", "birnn", "birnn", "torch_nn"]
    rows = {(row["peer"], row["variant"]): row for row in results["rows"]}
    birnn = rows[("birnn", "")]
    assert birnn["times_ms"] == [1.0, 11.0, 4.0, 14.0, 5.0, 15.0]
    assert birnn["round_medians_ms"] == [6.0, 9.0, 10.0]
    assert (birnn["median_ms"], birnn["min_ms"], birnn["peak_mib"]) == (8.0, 1.0, 5.0)
    assert rows[("birnn", "extra")]["skipped"] == "not here"
    assert rows[("torch_nn", "extra")]["times_ms"] == [1.0, 1.0, 1.0]
    assert results["config"]["rounds"] == 3
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        suite.SuiteConfig(cases=config.cases, peers=config.peers, rounds=0)


def test_per_round_ratio_pairs_the_rounds_so_a_slow_stretch_moves_both_sides() -> None:
    """The machine ran slow (1.25x) through rounds 2 and 3 for PyTorch and round 2 only for birnn (the stretch
    ended between the two runs of round 3): the pooled medians make birnn look 0.93x PyTorch, while birnn took
    1.04-1.05x PyTorch's time in three of the four rounds."""
    def row(peer: str, rounds: list[float]) -> dict:
        times = [t for r in rounds for t in (r, r)]
        return {"case": "c", "peer": peer, "variant": "", "times_ms": times, "median_ms": statistics.median(times),
                "min_ms": min(times), "round_medians_ms": rounds}

    results = {"rows": [row("birnn", [21.0, 26.0, 21.0, 21.0]), row("torch_nn", [20.0, 25.0, 25.0, 20.0])],
               "cases": [{"name": "c", "title": "t"}], "config": {"quiet_cores": 0.5}, "runs": []}
    birnn = next(e for e in entries(results) if e.peer == "birnn")
    assert birnn.vs_baseline == pytest.approx(21.0 / 22.5)
    assert birnn.vs_baseline_per_round == pytest.approx((21 / 20 + 26 / 25) / 2)
    one_round = {**results, "rows": [{**r, "round_medians_ms": r["round_medians_ms"][:1]} for r in results["rows"]]}
    assert next(e for e in entries(one_round) if e.peer == "birnn").vs_baseline_per_round is None


def test_same_kernel_cases_run_pytorchs_kernel_in_birnn() -> None:
    """The ``same_kernel`` group measures birnn's overhead around the kernel plain PyTorch runs: every recurrent
    layer of birnn's body must choose PyTorch's fused kernel there (and the compiled ones when training)."""
    from birnn.layers.rnn import _dispatch
    from benchmarks.peers.birnn import BirnnBody

    for case in cases.select(["same_kernel"]):
        body = BirnnBody(cases.tiny(case))
        x = torch.zeros(4, 5, cases.tiny(case).features)
        chosen = []
        original = _dispatch.kernel_for
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_dispatch, "kernel_for", lambda *a, **k: chosen.append(original(*a, **k)) or chosen[-1])
            with torch.no_grad():
                body(x, None)
            assert chosen == ["fused", "fused"]
            chosen.clear()
            body(x, None)
            assert chosen == (["scan", "scan"] if _dispatch._native.available() else ["fused", "fused"])
