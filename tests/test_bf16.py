"""BF16: only where the CPU has BF16 arithmetic, refused in one line elsewhere. Every branch runs on every machine
with the ISA faked both ways (conftest.fake_cpu); where the real CPU has BF16 (or lacks it) the real branch runs too
and asserts only what holds on any such CPU."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.engines.capabilities import bf16_problem
from edgecnn.envinfo import cpu_info

ZEN1 = {"model": "AMD EPYC", "arch": "x86_64", "isa": ["sse4_2", "avx", "avx2", "fma"]}  # cpu_info() blocks
SAPPHIRE = {"model": "Intel Xeon Platinum 8480+", "arch": "x86_64",
            "isa": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "amx_tile"]}
GRAVITON3 = {"model": "Neoverse-V1", "arch": "aarch64", "isa": ["asimd", "asimddp", "bf16", "i8mm", "sve"]}
REAL_BF16 = bf16_problem(cpu_info()) is None


def test_bf16_needs_the_isa():
    assert bf16_problem(SAPPHIRE) is None and bf16_problem(GRAVITON3) is None
    problem = bf16_problem(ZEN1)
    assert "AVX512-BF16 or AMX-BF16" in problem and "AMD EPYC" in problem and "avx2" in problem
    assert bf16_problem({**GRAVITON3, "isa": ["asimd"]}) is not None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model
    from edgecnn.zoo.weights import save_checkpoint

    root = tmp_path_factory.mktemp("bf16")
    loaded = create_model("mobilenet_v1_025", input_size=32, num_classes=5)
    save_checkpoint(root / "m.pt", loaded.model, arch="mobilenet_v1_025", classes=list("abcde"),
                    input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
    export_onnx(loaded, root / "m.onnx", batch="dynamic")
    return root


@pytest.mark.parametrize("engine, artifact", [("openvino", "m.onnx"), ("torch", "m.pt")])
@pytest.mark.parametrize("cpu", ["zen1", "cortex_a76"])
def test_bf16_is_refused_in_one_line_without_the_isa(engine, artifact, cpu, tiny, cli, fake_cpu):
    faked = fake_cpu(cpu)
    result = cli("profile", tiny / artifact, "--engine", engine, "--precision", "bf16")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [f"error: {bf16_problem(faked)}"]


@pytest.mark.parametrize("cpu, has_bf16", [("zen1", False), ("zen4", True), ("sapphire_rapids", True),
                                           ("cortex_a76", False), ("graviton3", True)])
def test_the_faked_cpus_decide_bf16_as_their_flags_say(cpu, has_bf16, fake_cpu):
    faked = fake_cpu(cpu)
    assert faked["faked"] and faked["bf16"] == has_bf16 and (bf16_problem(faked) is None) == has_bf16


def test_torch_bf16_runs_under_autocast_where_the_isa_is(tiny, fake_cpu):
    """With the flags faked in, the bf16 path itself runs (PyTorch emulates BF16 where the CPU lacks it): its
    logits follow FP32's within BF16's precision (8 bits of mantissa)."""
    from edgecnn.engines import load_runner

    fake_cpu("sapphire_rapids")
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with load_runner(str(tiny / "m.pt"), "torch", precision="bf16") as bf16:
        got = bf16.infer_array(x)
        assert bf16.info.extra["executed_precision"] == "bf16 (autocast)"
    with load_runner(str(tiny / "m.pt"), "torch") as fp32:
        reference = fp32.infer_array(x)
    assert got.dtype == np.float32 and not np.array_equal(got, reference)  # it did run in bf16
    assert np.abs(got - reference).max() <= 0.05 * np.abs(reference).max() + 1e-3


def test_a_profile_warns_when_the_engine_ran_another_precision_than_asked():
    from edgecnn.profile.run import precision_mismatch

    assert precision_mismatch("bf16", "f32", "openvino") == "bf16 was asked for, and openvino ran f32"
    assert precision_mismatch("bf16", "bf16", "openvino") is None
    assert precision_mismatch("bf16", "bf16 (autocast)", "torch") is None
    assert precision_mismatch("fp32", "f32", "openvino") is None and precision_mismatch("bf16", None, "ort") is None


@pytest.mark.parametrize("cpu", ["sapphire_rapids", "zen4"])
def test_openvino_profile_states_the_precision_it_ran(cpu, tiny, fake_cpu):
    """OpenVINO reports its inference precision. The request is let through with BF16 flags faked; what OpenVINO
    runs is the real CPU's answer: bf16 where the CPU has BF16 arithmetic, f32 (and a warning saying so) where it
    does not. Only the precision is asserted: a 3-run profile's timing warnings are noise on any machine."""
    from edgecnn.profile.run import profile
    from edgecnn.profile.options import ProfileSettings

    settings = ProfileSettings(batches=(1,), warmup_s=0.0, min_runs=3, min_time_s=0.0)
    fp32 = profile(str(tiny / "m.onnx"), "openvino", settings=settings)
    assert fp32.executed_precision == "f32"  # edgecnn asks for f32 even where OpenVINO's default is bf16
    fake_cpu(cpu)  # let the request through to OpenVINO
    asked = profile(str(tiny / "m.onnx"), "openvino", precision="bf16", settings=settings)
    assert asked.precision == "bf16"
    mismatch = [w for w in asked.warnings if "was asked for" in w]
    if REAL_BF16:
        assert asked.executed_precision == "bf16" and not mismatch
    else:
        assert asked.executed_precision == "f32"
        assert mismatch == ["bf16 was asked for, and openvino ran f32"]
