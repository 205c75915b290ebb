"""``OP``: the base class of Python OPs (class OPs and, through ``OP.function``, function OPs)."""

from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, cast

from .opio import OPIO, OPIOSign
from .sign_check import check_inputs, check_outputs

PROGRESS_ENV = "ARGO_PROGRESS_FILE"


class OP(ABC):
    """A Python OP: declare ``get_input_sign``/``get_output_sign`` and implement ``execute``.

    ``execute`` receives an ``OPIO`` of inputs (artifacts as paths) and returns an ``OPIO`` of
    outputs. Decorate it with ``@OP.exec_sign_check`` to check both against the signs (the OP
    runner checks them in any case). Setting ``progress_current``/``progress_total`` reports
    progress to the engine.
    """

    progress_total: int = 1
    progress_current: int = 0
    key: str | None = None
    workflow_name: str | None = None
    outputs: dict[str, Any] = {}  # pydflow's class attribute; set_output copies
    slices: dict[str, Any] = {}
    tmp_root: str = "/tmp"
    create_slice_dir: bool = False
    pool_size: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: B027 - subclasses may skip it
        """Subclasses take whatever arguments they need; the base needs none."""

    @classmethod
    @abstractmethod
    def get_input_sign(cls) -> OPIOSign:
        """The signs of the inputs, by name."""

    @classmethod
    @abstractmethod
    def get_output_sign(cls) -> OPIOSign:
        """The signs of the outputs, by name."""

    @abstractmethod
    def execute(self, op_in: OPIO) -> OPIO:
        """Run the OP on ``op_in`` and return its outputs."""

    # -- progress ---------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in ("progress_current", "progress_total"):
            self._write_progress()

    def _write_progress(self) -> None:
        path = self.__dict__.get("_progress_file") or os.environ.get(PROGRESS_ENV)
        if not path:
            return
        # write then rename: a reader polling the file never sees it half written
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.progress_current}/{self.progress_total}")
        os.replace(tmp, path)

    # -- outputs ----------------------------------------------------------------------------

    def set_output(self, name: str, value: Any, symlink: bool = True) -> None:
        """Give output ``name`` now: it is kept even if ``execute`` fails later."""
        if "outputs" not in self.__dict__:  # never write into the shared class attribute
            object.__setattr__(self, "outputs", {})
        self.outputs[name] = value

    def get_info(self) -> dict[str, Any]:
        """What the OP knows about the step running it."""
        return {
            "op": type(self).__qualname__,
            "key": self.key,
            "workflow_name": self.workflow_name,
            "progress_current": self.progress_current,
            "progress_total": self.progress_total,
        }

    # -- decorators and constructors --------------------------------------------------------

    @staticmethod
    def exec_sign_check(func: Callable[[Any, OPIO], OPIO]) -> Callable[[Any, OPIO], OPIO]:
        """Wrap ``execute``: check its inputs and outputs against the signs."""

        @functools.wraps(func)
        def wrapper(self: OP, op_in: OPIO) -> OPIO:
            name = type(self).__name__
            op_in = check_inputs(name, self.get_input_sign(), op_in)
            op_out = func(self, op_in)
            extra = self.__dict__.get("outputs")
            return check_outputs(name, self.get_output_sign(), op_out, extra)

        wrapper._dflow_sign_checked = True  # type: ignore[attr-defined]
        return wrapper

    @classmethod
    def function(cls, func: Callable | None = None, **template_kwargs: Any) -> Any:
        """Build an OP class from a type-annotated function (usable as a decorator with or
        without arguments; the arguments are defaults for its ``PythonOPTemplate``)."""
        from .function_op import make_function_op

        if func is None:
            return lambda f: make_function_op(f, template_kwargs)
        return make_function_op(func, template_kwargs)

    @classmethod
    def superfunction(cls, func: Callable | None = None, **dag_kwargs: Any) -> Any:
        """Trace a function calling function OPs into a DAG template (not available yet)."""
        raise NotImplementedError(
            "OP.superfunction is not implemented in this dflow version; build the DAG with "
            "DAG()/Task() or call function OPs inside `with Workflow(...)`/`with DAG(...)`"
        )


def raw_execute(op: OP) -> Callable[[OPIO], OPIO]:
    """``op.execute`` without the ``exec_sign_check`` wrapper (the runner checks itself)."""
    method = type(op).execute
    if getattr(method, "_dflow_sign_checked", False):
        return functools.partial(cast(Any, method).__wrapped__, op)
    return op.execute


def make_instance(op: type[OP] | OP) -> OP:
    """An instance of ``op`` (given as a class or an instance); function OPs included, whose
    class call runs the function instead. A plain annotated function is made an OP as
    ``OP.function`` would (``MyOp = OP.function(f)`` ships as ``f`` from a script)."""
    if isinstance(op, OP):
        return op
    if callable(op) and not isinstance(op, type) and hasattr(op, "__annotations__"):
        op = OP.function(op)
    if not (isinstance(op, type) and issubclass(op, OP)):
        raise TypeError(f"expected an OP class or instance, got {op!r}")
    return type.__call__(op)


from .._compat import module_getattr  # noqa: E402

__getattr__ = module_getattr(
    __name__,
    refused={
        "get_sign_from_func": "OP.function builds the signs from a function's annotations",
        "type2opiosign": "OP.function reads the return annotation (dict, TypedDict, NamedTuple, "
        "Tuple or a single type)",
        "get_source_code": "engines import an OP by module, or ship its source file; inspect."
        "getsource gives an OP's source",
        "iwd": "use os.getcwd() (dflow does not record the working directory at import)",
    },
)
