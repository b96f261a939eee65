"""The offline scenario counts every request exactly once (synthetic requests, and real ONNX Runtime / OpenVINO
runs checked against a count of the session calls); cold start and the machine state come out of a profile."""

from __future__ import annotations

import time

import pytest

from edgecnn.profile.scenarios import Request, count_requests, parse_streams


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    path = tmp_path_factory.mktemp("scenarios") / "m.onnx"
    export_onnx(create_model("mobilenet_v1_025", input_size=32, num_classes=5), path, batch="dynamic")
    return path


def test_every_request_is_counted_once_and_the_window_is_first_start_to_last_end():
    # two streams; the last request of stream 1 was in flight when the time was up (ends at 2.5 s): counted
    requests = [Request(0.0, 0.5, 0), Request(0.5, 1.0, 0), Request(1.0, 1.5, 0), Request(1.5, 2.0, 0),
                Request(0.1, 1.1, 1), Request(1.1, 2.5, 1)]
    stats = count_requests(requests, batch=8, streams=2, streams_asked="auto")
    assert stats.requests == 6 and stats.images == 48 and stats.per_worker == [4, 2]
    assert stats.seconds == pytest.approx(2.5) and stats.throughput == pytest.approx(48 / 2.5)
    assert stats.p50_ms == pytest.approx(500.0) and stats.max_ms == pytest.approx(1400.0)
    assert count_requests([(0.0, 1.0, 0)], 1, 1, "1").throughput == pytest.approx(1.0)  # plain tuples too
    with pytest.raises(ValueError):
        count_requests([], 1, 1, "1")


def test_a_scenario_the_engine_does_not_run_is_refused_before_any_work(tiny_onnx):
    from edgecnn.errors import UsageError
    from edgecnn.profile.run import profile

    with pytest.raises(UsageError, match="torch runs the single-stream scenario, not offline"):
        profile("mobilenet_v1_025", "torch", scenarios=["offline"])
    with pytest.raises(UsageError, match="--sustained times single-stream calls"):
        profile(tiny_onnx, "ort", scenarios=["offline"], sustained_s=5.0)


def test_streams_are_auto_or_positive():
    assert parse_streams("AUTO") == "auto" and parse_streams(2) == "2" and parse_streams(" 3 ") == "3"
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(ValueError):
            parse_streams(bad)


def test_ort_offline_counts_each_session_call_in_the_window_once(tiny_onnx, monkeypatch):
    """Each session's calls are recorded by a proxy; the requests returned are exactly its calls after the warm-up
    (none dropped, none twice), one session per stream, with the threads split between them."""
    import edgecnn.engines.ort_engine as ort_engine
    from edgecnn.engines import load_runner
    from edgecnn.profile.latency import random_feed

    made = []
    real = ort_engine.make_session

    class Counting:
        def __init__(self, session, threads):
            self.session, self.threads, self.calls = session, threads, []

        def run(self, *args):
            self.calls.append(time.perf_counter())
            return self.session.run(*args)

    def counting_session(path, threads=None, *args, **kwargs):
        proxy = Counting(real(path, threads, *args, **kwargs), threads)
        made.append(proxy)
        return proxy

    runner = load_runner(tiny_onnx, "ort", threads=2).activate()
    feed = random_feed(runner, 2)
    monkeypatch.setattr(ort_engine, "make_session", counting_session)
    requests, used = runner.offline_requests(feed, 2, seconds=0.3, warmup_s=0.05)
    assert used == 2 and len(made) == 2 and [m.threads for m in made] == [1, 1]
    for stream, proxy in enumerate(made):
        mine = sorted(r for r in requests if r[2] == stream)
        assert mine, f"stream {stream} completed nothing"
        after_warmup = [t for t in proxy.calls if t >= mine[0][0]]
        assert len(after_warmup) == len(mine)  # every call in the window is one request, and no other
        assert all(abs(call - start) < 0.01 for call, (start, _, _) in zip(after_warmup, mine))
    stats = count_requests(requests, 2, used, "2")
    assert stats.images == 2 * len(requests) and sum(stats.per_worker) == len(requests)
    assert max(r[0] for r in requests) - min(r[0] for r in requests) < 0.3 + 0.05  # none started after the time


def test_openvino_offline_runs_async_requests_and_counts_them(tiny_onnx):
    pytest.importorskip("openvino")
    from edgecnn.engines import load_runner
    from edgecnn.profile.latency import random_feed

    runner = load_runner(tiny_onnx, "openvino", threads=2).activate()
    feed = random_feed(runner, 1)
    requests, used = runner.offline_requests(feed, 2, seconds=0.3, warmup_s=0.05)
    assert used == 2 and len(requests) > 0
    assert len(set(requests)) == len(requests) and all(end >= start for start, end, _ in requests)
    stats = count_requests(requests, 1, used, "2")
    assert stats.requests == len(requests) and stats.seconds >= 0.25


def test_a_profile_reports_cold_start_machine_state_and_the_offline_rows(tiny_onnx):
    from edgecnn.profile.run import profile
    from edgecnn.report.results import rows_from_profile

    single = profile(tiny_onnx, "ort", batches=[1], threads=1, warmup_s=0.0, min_runs=5, min_time_s=0.05)
    cold = single.cold_start
    assert cold["load_s"] > 0 and cold["first_inference_ms"]["1"] > 0
    assert cold["process_to_loaded_s"] is None or cold["process_to_loaded_s"] >= cold["load_s"]
    assert len(single.machine_state) == 1 and "energy" in single.machine_state[0]
    assert single.scenarios == ["single-stream"] and single.offline == []
    offline = profile(tiny_onnx, "ort", batches=[1, 2], threads=2, warmup_s=0.0, min_runs=5, min_time_s=0.1,
                      scenarios=["offline"], streams=["1", "auto"])
    assert offline.latency == [] and [(o["batch"], o["streams_asked"]) for o in offline.offline] == \
        [(1, "1"), (1, "auto"), (2, "1"), (2, "auto")]
    rows = rows_from_profile(offline.to_dict(), "here")
    assert [(r["scenario"], r["streams"], r["batch"]) for r in rows] == \
        [("offline", "1", 1), ("offline", "auto", 1), ("offline", "1", 2), ("offline", "auto", 2)]
    assert all(r["throughput"] > 0 and r["p50_ms"] > 0 for r in rows)
    assert [r["scenario"] for r in rows_from_profile(single.to_dict(), "here")] == ["single-stream"]


def _row(engine, precision, scenario, p50, throughput, top1, streams="1", batch=1):
    return {"device": "here", "model": "m", "engine": engine, "precision": precision, "scenario": scenario,
            "streams": streams, "batch": batch, "p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "throughput": throughput,
            "top1": top1, "artifact": f"m_{precision}.onnx", "file_size_mib": 1.0}


def test_pick_for_latency_leaves_offline_rows_out_and_for_throughput_takes_them():
    from edgecnn.report.best import best_lines, pick_best

    rows = [_row("ort", "fp32", "single-stream", 5.0, 200.0, 0.90),
            _row("ort", "int8", "single-stream", 3.0, 330.0, 0.895),
            _row("openvino", "int8", "offline", 1.0, 900.0, 0.895, streams="auto", batch=8),  # low p50 under load
            _row("openvino", "fp32", "offline", 2.0, 1200.0, 0.85, streams="2", batch=8)]  # outside the budget
    latency = pick_best(rows, 1.0)["here"]
    assert (latency["engine"], latency["precision"]) == ("ort", "int8")
    throughput = pick_best(rows, 1.0, objective="throughput")["here"]
    assert (throughput["engine"], throughput["precision"], throughput["scenario"], throughput["streams"],
            throughput["batch"]) == ("openvino", "int8", "offline", "auto", 8)
    assert "900.0 images/s offline at batch 8, auto streams" in best_lines({"here": throughput})[0]


@pytest.mark.parametrize("target, message", [
    ({"engine": "torch", "precisions": ["fp32"], "scenarios": ["offline"]},
     "targets[0].scenarios[0]: engine torch runs single-stream, not offline"),
    ({"engine": "ort", "precisions": ["fp32"], "scenarios": ["server"]}, "targets[0].scenarios must be among"),
    ({"engine": "ort", "precisions": ["fp32"], "scenarios": ["offline"], "streams": ["0"]},
     "targets[0].streams must be 'auto' or a positive integer"),
])
def test_a_recipe_target_asks_only_for_scenarios_its_engine_runs(tmp_path, target, message):
    import yaml
    from test_run import TINY

    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.schema import RecipeError

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(dict(TINY, targets=[target])))
    with pytest.raises(RecipeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_recipe(path)


def test_a_recipe_measures_both_scenarios_and_reports_them(tmp_path, monkeypatch):
    import json

    import yaml

    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import run_recipe

    monkeypatch.chdir(tmp_path)
    recipe = {"name": "scenarios", "model": {"arch": "mobilenet_v1_025"},
              "data": {"path": "synthetic:shapes:32", "val_split": 0.25, "seed": 0},
              "train": {"enabled": False, "img_size": 32}, "export": {"batch": "dynamic"},
              "targets": [{"engine": "ort", "precisions": ["fp32"], "batches": [1, 2], "threads": 2,
                           "scenarios": ["single-stream", "offline"], "streams": ["1", "auto"]}],
              "profile": {"warmup_s": 0.02, "min_runs": 5, "min_time_s": 0.1, "pick": "throughput"}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    run = run_recipe(load_recipe(tmp_path / "r.yaml"), runs_dir=tmp_path / "runs", progress=False,
                     log=lambda _: None)
    assert not run.failed, [(s.name, s.message) for s in run.failed]
    results = json.loads((run.run_dir / "results.json").read_text())
    rows = results["rows"]
    best = next(iter(results["best"].values()))  # profile.pick: throughput
    assert best["objective"] == "throughput" and best["throughput"] == max(r["throughput"] for r in rows)
    assert sorted((r["scenario"], r["streams"], r["batch"]) for r in rows) == sorted(
        [("single-stream", "1", 1), ("single-stream", "1", 2), ("offline", "1", 1), ("offline", "auto", 1),
         ("offline", "1", 2), ("offline", "auto", 2)])
    header = next(line for line in (run.run_dir / "report.md").read_text().splitlines() if line.startswith("| engine"))
    assert "scenario" in header and "streams" in header
    assert "for throughput:" in (run.run_dir / "report.md").read_text()


def test_per_layer_on_the_device_sits_beside_the_hosts_in_the_report(tiny_onnx, tmp_path, cli):
    """infer.py --profile --per-layer (ONNX Runtime's profiler in the bundle) comes back in the results; the report
    shows the device's slowest layers beside the host's (edgecnn profile --per-layer), and its cold start."""
    import json
    import subprocess
    import sys

    from edgecnn.profile.run import profile
    from edgecnn.report.render import render_markdown
    from edgecnn.report.results import merge_results, rows_from_profile

    bundle = tmp_path / "b"
    assert cli("bundle", tiny_onnx, "-o", bundle).exit_code == 0
    done = subprocess.run([sys.executable, str(bundle / "infer.py"), "--profile", "--per-layer", "--threads", "1",
                           "--min-runs", "5", "--min-time-s", "0.05", "--warmup-s", "0", "--results",
                           str(tmp_path / "device.json"), "--device-name", "board"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    device = json.loads((tmp_path / "device.json").read_text())
    layers = device["rows"][0]["per_layer"]
    assert layers and all(r["mean_ms"] >= 0 for r in layers) and any(r["op"] == "Conv" for r in layers)
    assert device["rows"][0]["cold_start"]["first_inference_ms"]["1"] > 0
    host = profile(tiny_onnx, "ort", batches=[1], threads=1, warmup_s=0.0, min_runs=5, min_time_s=0.05,
                   per_layer=True)
    host_results = {"schema": "edgecnn.results", "version": 1, "recipe": "r", "model": "m", "device": "host",
                    "created": "now", "environment": host.environment, "training": None, "stages": [],
                    "rows": rows_from_profile(host.to_dict(), "host")}
    merged = merge_results([host_results, device])
    text = render_markdown(dict(merged, recipe="r", model="m", device="host", created="now"), {})
    section = text.split("## Slowest layers", 1)[1].split("\n## ", 1)[0]
    assert "**host: ort fp32, batch 1**" in section and "**board: ort fp32, batch 1**" in section
    assert "## Cold start and machine state" in text


def test_a_stream_that_fails_stops_the_offline_run_with_its_error(tiny_onnx, monkeypatch):
    import edgecnn.engines.ort_engine as ort_engine
    from edgecnn.engines import load_runner
    from edgecnn.profile.latency import random_feed

    real, made = ort_engine.make_session, []

    class Failing:
        def __init__(self, session):
            self.session = session

        def run(self, *args):
            raise RuntimeError("out of memory on this stream")

    def sessions(path, *args, **kwargs):
        made.append(real(path, *args, **kwargs))
        return Failing(made[-1]) if len(made) == 2 else made[-1]

    runner = load_runner(tiny_onnx, "ort", threads=2).activate()
    feed = random_feed(runner, 1)
    monkeypatch.setattr(ort_engine, "make_session", sessions)
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="out of memory on this stream"):
        runner.offline_requests(feed, 2, seconds=5.0, warmup_s=0.05)
    assert time.perf_counter() - started < 4.0  # the healthy stream did not wait for the window
