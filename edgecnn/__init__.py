"""edgecnn: take convolutional networks from PyTorch to edge devices.

The Python API is the command line's own functions (each command parses its flags, calls one of these, and
prints what it returns)::

    import edgecnn

    edgecnn.train("lenet5", "synthetic:shapes:64", "run/", epochs=1)              # edgecnn train
    report = edgecnn.export("run/best.pt", "lenet5.onnx", batch="dynamic")        # edgecnn export
    int8 = edgecnn.quantize("lenet5.onnx", "lenet5_int8.onnx", calib="synthetic:shapes:64")  # edgecnn quantize
    result = edgecnn.profile("lenet5_int8.onnx", batches=[1, 8])                  # edgecnn profile
    edgecnn.bundle("lenet5_int8.onnx", "lenet5-bundle")                           # edgecnn bundle
    run = edgecnn.run("recipes/quickstart.yaml", ["train.epochs=2"])              # edgecnn run

The README's example (run by tests/test_api.py) and docs/api.md say more.

``edgecnn.export``, ``.quantize``, ``.profile``, ``.bundle``, ``.train`` and ``.evaluate`` are also the packages
and modules of those names, made callable (:mod:`edgecnn.core.api` says why); ``inspect.signature`` and
``help(edgecnn.export.export_model)`` show each function's arguments. Nothing heavy is imported until one is
used: ``import edgecnn`` does not start PyTorch or ONNX Runtime.
"""

import importlib as _importlib

from .core.versions import __version__

# name -> (module, attribute): None calls the module itself (a package or module made callable, core.api)
_API = {
    "train": ("edgecnn.train", None),  # train.train_model
    "evaluate": ("edgecnn.evaluate", None),  # evaluate.evaluate_model
    "export": ("edgecnn.export", None),  # export.onnx_export.export_model
    "quantize": ("edgecnn.quantize", None),  # quantize.workflow.quantize_model
    "profile": ("edgecnn.profile", None),  # profile.run.profile
    "compare": ("edgecnn.profile.compare_outputs", "compare_models"),
    "bundle": ("edgecnn.bundle", None),  # bundle.builder.build_bundle
    "run": ("edgecnn.recipe.pipeline", "run_recipe"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        module, attribute = _API[name]
        found = _importlib.import_module(module)
        if attribute is not None:
            found = getattr(found, attribute)
            globals()[name] = found  # the next look-up finds it without this function
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted({*(name for name in globals() if not name.startswith("_")), *__all__})
