"""ONNX Runtime's GPU engines (ort-cuda, ort-trt): the decisions on CPU, the runs where a GPU is."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from edgecnn.engines.gpu_timing import summarize_phases
from edgecnn.engines.ort_gpu import (GPU_PROVIDERS, OrtGpuOptions, check_active, missing_provider, provider_list,
                                     with_stream)
from edgecnn.errors import EngineUnavailable

CPU_ONLY = "CUDAExecutionProvider" not in ort.get_available_providers()


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    path = tmp_path_factory.mktemp("ort-gpu") / "tiny.onnx"
    export_onnx(create_model("mobilenet_v1_025", input_size=32), path, batch="dynamic")
    return path


def test_provider_lists_per_engine_and_precision():
    assert provider_list("ort-cuda", "fp16") == [("CUDAExecutionProvider", {"device_id": "0"}),
                                                 ("CPUExecutionProvider", {})]
    int8 = dict(provider_list("ort-trt", "int8", OrtGpuOptions(device_id=1, engine_cache="/tmp/c")))
    assert int8["TensorrtExecutionProvider"] == {
        "device_id": "1", "trt_fp16_enable": "True", "trt_int8_enable": "True", "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": "/tmp/c", "trt_timing_cache_enable": "True", "trt_timing_cache_path": "/tmp/c"}
    assert list(int8) == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    fp32 = dict(provider_list("ort-trt", "fp32"))["TensorrtExecutionProvider"]
    assert fp32["trt_fp16_enable"] == fp32["trt_int8_enable"] == "False" and "trt_engine_cache_path" not in fp32
    with pytest.raises(ValueError):
        provider_list("ort", "fp32")
    streamed = dict(with_stream(provider_list("ort-trt", "fp16"), 1234))
    assert streamed["TensorrtExecutionProvider"]["user_compute_stream"] == "1234"
    assert streamed["CUDAExecutionProvider"]["has_user_compute_stream"] == "1"
    assert streamed["CPUExecutionProvider"] == {}


def test_missing_provider_names_the_install():
    problem = missing_provider("ort-trt", ["CPUExecutionProvider"], "1.32.0")
    assert "TensorrtExecutionProvider" in problem and "onnxruntime 1.32.0 offers CPUExecutionProvider" in problem
    assert "edgecnn[ort-gpu]" in problem
    assert missing_provider("ort-cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]) is None


@pytest.mark.parametrize("engine", sorted(GPU_PROVIDERS))
def test_a_session_that_fell_back_to_the_cpu_is_refused(engine, tiny_onnx):
    """With the CPU build installed here, ONNX Runtime itself falls back when asked for a GPU provider: the
    real session's providers are what the check reads."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            session = ort.InferenceSession(str(tiny_onnx), providers=provider_list(engine, "fp32"))
        except Exception as exc:  # some releases refuse instead of falling back: also never a CPU figure
            pytest.skip(f"this onnxruntime refuses unavailable providers outright: {exc}")
    if not CPU_ONLY:
        pytest.skip("a GPU provider is available here: nothing falls back")
    assert session.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(EngineUnavailable, match=f"{engine}: ONNX Runtime could not load {GPU_PROVIDERS[engine]}.*"
                                                "would have run on the CPU"):
        check_active(engine, session.get_providers())
    check_active(engine, [GPU_PROVIDERS[engine], "CPUExecutionProvider"])  # the provider loaded: accepted


@pytest.mark.skipif(not CPU_ONLY, reason="a GPU provider is installed here")
@pytest.mark.parametrize("engine", sorted(GPU_PROVIDERS))
def test_profile_on_a_gpu_engine_without_one_is_one_line(engine, tiny_onnx, cli):
    result = cli("profile", tiny_onnx, "--engine", engine)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{engine} needs ONNX Runtime's {GPU_PROVIDERS[engine]}" in result.stderr


def test_phase_medians():
    summary = summarize_phases([(0.1, 1.0, 0.2), (0.3, 3.0, 0.2), (0.2, 2.0, 0.4)])
    assert (summary["h2d_ms"], summary["compute_ms"], summary["d2h_ms"]) == (0.2, 2.0, 0.2)
    assert summary["compute_mean_ms"] == pytest.approx(2.0) and summary["runs"] == 3
    with pytest.raises(ValueError):
        summarize_phases([])


@pytest.mark.gpu
@pytest.mark.parametrize("engine", sorted(GPU_PROVIDERS))
def test_gpu_engine_profiles_with_copies_apart(engine, tiny_onnx):
    """Needs onnxruntime-gpu and an NVIDIA GPU (and TensorRT for ort-trt)."""
    if missing_provider(engine, ort.get_available_providers()):
        pytest.skip(f"{GPU_PROVIDERS[engine]} is not available")
    from edgecnn.profile.run import profile
    from edgecnn.profile.options import ProfileSettings

    result = profile(str(tiny_onnx), engine, settings=ProfileSettings(batches=(1,), min_runs=10, min_time_s=0.1))
    (phases,) = result.gpu_phases
    assert phases["compute_ms"] > 0 and phases["h2d_ms"] >= 0 and phases["d2h_ms"] >= 0
    assert result.environment.get("gpu")
