"""infer.py's TensorRT path on CPU: device buffers once per input shape, freed on close, data copied the right way.

TensorRT and a GPU are faked: a fake ``tensorrt`` module whose execution context computes on the fake device
memory, and a fake cuda-python runtime whose functions are the real module's names (checked) over bytearrays,
with the real ``cudaError_t``, ``cudaMemcpyKind`` and ``cudaStream_t``.
"""

from __future__ import annotations

import ctypes
import sys
import types

import numpy as np
import pytest

from test_trt_names import load_infer

runtime = pytest.importorskip("cuda.bindings.runtime")


def expected(batch: np.ndarray) -> np.ndarray:
    return np.stack([batch.sum(1), batch.max(1)], axis=1).astype(np.float32)


class FakeCuda(types.SimpleNamespace):
    """cudaMalloc, cudaFree, cudaMemcpyAsync, ... over bytearrays; counts what was called."""

    def __init__(self, fail_malloc_at: int | None = None):
        super().__init__(cudaError_t=runtime.cudaError_t, cudaMemcpyKind=runtime.cudaMemcpyKind)
        self.memory: dict[int, bytearray] = {}
        self.calls: list[str] = []
        self.streams: set[int] = set()
        self.fail_malloc_at = fail_malloc_at
        ok = runtime.cudaError_t.cudaSuccess
        kind = runtime.cudaMemcpyKind

        def cudaStreamCreate():
            self.calls.append("cudaStreamCreate")
            stream = runtime.cudaStream_t()
            self.streams.add(id(stream))
            return ok, stream

        def cudaStreamDestroy(stream):
            self.calls.append("cudaStreamDestroy")
            self.streams.discard(id(stream))
            return (ok,)

        def cudaStreamSynchronize(stream):
            self.calls.append("cudaStreamSynchronize")
            return (ok,)

        def cudaMalloc(size):
            self.calls.append("cudaMalloc")
            if self.fail_malloc_at is not None and self.calls.count("cudaMalloc") == self.fail_malloc_at:
                return runtime.cudaError_t.cudaErrorMemoryAllocation, 0
            pointer = 0x1000 * (len(self.calls) + 1)
            self.memory[pointer] = bytearray(size)
            return ok, pointer

        def cudaFree(pointer):
            self.calls.append("cudaFree")
            del self.memory[pointer]
            return (ok,)

        def cudaMemcpyAsync(dst, src, count, direction, stream):
            self.calls.append("cudaMemcpyAsync")
            if direction == kind.cudaMemcpyHostToDevice:
                assert len(self.memory[dst]) >= count
                self.memory[dst][:count] = ctypes.string_at(src, count)
            else:
                assert direction == kind.cudaMemcpyDeviceToHost
                ctypes.memmove(dst, bytes(self.memory[src][:count]), count)
            return (ok,)

        for function in (cudaStreamCreate, cudaStreamDestroy, cudaStreamSynchronize, cudaMalloc, cudaFree,
                         cudaMemcpyAsync):
            assert hasattr(runtime, function.__name__), f"the fake invents {function.__name__}"
            setattr(self, function.__name__, function)


def fake_tensorrt(cuda: FakeCuda) -> types.ModuleType:
    """Logger, Runtime, TensorIOMode and an engine whose context computes (sum, max) of each row."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, severity: None})
    trt.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")

    class Context:
        def __init__(self):
            self.shape, self.addresses = None, {}

        def set_input_shape(self, name, shape):
            assert name == "input"
            self.shape = tuple(shape)

        def get_tensor_shape(self, name):
            return (self.shape[0], 2) if name == "logits" else self.shape

        def set_tensor_address(self, name, pointer):
            self.addresses[name] = pointer

        def execute_async_v3(self, stream_handle):
            assert isinstance(stream_handle, int)
            source = cuda.memory[self.addresses["input"]]
            batch = np.frombuffer(bytes(source), np.float32, count=int(np.prod(self.shape))).reshape(self.shape)
            result = expected(batch).tobytes()
            cuda.memory[self.addresses["logits"]][:len(result)] = result
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, index):
            return ("input", "logits")[index]

        def get_tensor_mode(self, name):
            return "in" if name == "input" else "out"

        def get_tensor_shape(self, name):
            return (-1, 3) if name == "input" else (-1, 2)

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            assert data == b"plan"
            return Engine()

    trt.Runtime = Runtime
    return trt


@pytest.fixture
def infer(monkeypatch):
    module = load_infer()
    cuda = FakeCuda()
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(cuda))
    monkeypatch.setattr(module, "cuda_runtime", lambda: cuda)
    return module, cuda


def test_buffers_are_allocated_once_per_shape_and_freed_on_close(infer, tmp_path):
    module, cuda = infer
    (tmp_path / "model.engine").write_bytes(b"plan")
    model = module.TensorRTModel(tmp_path / "model.engine", {})
    assert model.fixed_batch is None
    rng = np.random.default_rng(0)
    small, large = rng.standard_normal((2, 3)), rng.standard_normal((5, 3))
    first = model(small)
    outputs = [model(small) for _ in range(3)] + [model(large), model(small)]
    np.testing.assert_allclose(first, expected(small.astype(np.float32)), rtol=1e-6)
    np.testing.assert_allclose(outputs[3], expected(large.astype(np.float32)), rtol=1e-6)
    assert all(np.array_equal(o, first) for o in outputs[:3] + outputs[4:])
    assert outputs[0] is not outputs[1]  # each call returns its own array: earlier results stay valid
    assert cuda.calls.count("cudaMalloc") == 4 and cuda.calls.count("cudaFree") == 0  # 2 shapes x (in, out)
    assert cuda.calls.count("cudaMemcpyAsync") == 2 * 6 and cuda.calls.count("cudaStreamSynchronize") == 6
    assert len(cuda.memory) == 4 and sorted(model.buffers) == [(2, 3), (5, 3)]
    model.close()
    assert cuda.calls.count("cudaFree") == 4 and not cuda.memory and not cuda.streams and not model.buffers
    module.close_model(model)  # a second close does nothing more
    assert cuda.calls.count("cudaFree") == 4 and cuda.calls.count("cudaStreamDestroy") == 1


def test_a_failed_allocation_is_one_line_and_leaks_nothing(infer, tmp_path):
    module, cuda = infer
    cuda.fail_malloc_at = 2  # the output buffer of the first shape
    (tmp_path / "model.engine").write_bytes(b"plan")
    model = module.TensorRTModel(tmp_path / "model.engine", {})
    with pytest.raises(RuntimeError, match="^CUDA call failed: cudaErrorMemoryAllocation$"):
        model(np.zeros((2, 3), np.float32))
    assert not cuda.memory and not model.buffers
    model.close()


def test_close_model_leaves_models_without_close_alone():
    module = load_infer()
    module.close_model(types.SimpleNamespace())
