"""Modules that are also the public API's functions: ``edgecnn.export(...)`` calls the package ``edgecnn.export``.

``edgecnn.export``, ``.quantize``, ``.profile``, ``.bundle``, ``.train`` and ``.evaluate`` name packages and
modules as well as the API's functions. A function of the same name in ``edgecnn/__init__.py`` would not
survive: the import system sets ``edgecnn.export`` to the subpackage as soon as anything imports
``edgecnn.export.onnx_export``. So each of these modules is made callable instead (:func:`make_callable`):
calling it calls the function it names, looked up at each call (the module's own lazy loading holds, and so
does a test's monkeypatch), and ``__wrapped__`` is that function, so ``inspect.signature(edgecnn.export)``
shows its arguments. Everything else about the module (its attributes, ``import edgecnn.export.verify``) is
unchanged.
"""

from __future__ import annotations

import sys
import types

_TARGET = "_edgecnn_call"


class CallableModule(types.ModuleType):
    """A module whose call is one of its functions (named by :func:`make_callable`)."""

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    @property
    def __wrapped__(self):
        """The function a call runs: the module's attribute named by :func:`make_callable`."""
        return getattr(self, self.__dict__[_TARGET])


def make_callable(module_name: str, function: str) -> None:
    """Make the (imported) module ``module_name`` callable: a call runs its attribute ``function``."""
    module = sys.modules[module_name]
    setattr(module, _TARGET, function)
    module.__class__ = CallableModule
