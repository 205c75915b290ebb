"""``OP.function``: an OP class built from a type-annotated function.

Inputs come from the parameter annotations (``Artifact(...)``, ``Parameter(...)``,
``BigParameter(...)`` or plain types; a default value makes ``Parameter(default=...)``).
Outputs come from the return annotation: a dict literal, a TypedDict, a NamedTuple,
``Tuple[...]`` (outputs ``dflow_output_<i>``) or a single type (output ``dflow_output``).
"""

from __future__ import annotations

import inspect
import sys
import typing
from abc import ABCMeta
from collections.abc import Callable, Mapping
from typing import Any, cast

from .errors import SignatureError
from .op import OP
from .opio import OPIO, Artifact, OPIOSign, Parameter
from .typecheck import get_args, get_origin, is_typeddict

_EMPTY = inspect.Parameter.empty


def _on_call_in_context(op: type, args: tuple, kwargs: dict) -> Any:
    """Called when a function OP is called; return ``NotImplemented`` to run the function.

    Inside ``with Workflow(...)``/``with DAG(...)``/``with Steps(...)`` the call creates a
    step instead (see :func:`dflow.model.context.call_in_context`). No such block can be
    open unless the model's context module was imported, which never happens in a pod.
    """
    context = sys.modules.get("dflow.model.context")
    if context is None:
        return NotImplemented
    current = getattr(context, "current", None)
    if current is None or getattr(current, "_dflow_client_only", False) or current() is None:
        return NotImplemented
    return context.call_in_context(op, args, kwargs)


class FunctionOPMeta(ABCMeta):
    """Metaclass of function OPs: calling the class calls the function (or the context hook)."""

    func: Callable[..., Any]  # the decorated function (a staticmethod of the class)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        result = _on_call_in_context(cls, args, kwargs)
        if result is not NotImplemented:
            return result
        return cls.func(*args, **kwargs)


def _get_annotations(func: Callable) -> dict[str, Any]:
    """``inspect.get_annotations(func, eval_str=True)`` (3.10+), also on older Pythons."""
    if hasattr(inspect, "get_annotations"):
        return inspect.get_annotations(func, eval_str=True)
    target = inspect.unwrap(func)
    scope = getattr(target, "__globals__", {})
    return {
        name: eval(value, scope) if isinstance(value, str) else value
        for name, value in dict(getattr(func, "__annotations__", {}) or {}).items()
    }


def _annotations(func: Callable) -> dict[str, Any]:
    try:
        return _get_annotations(func)
    except Exception as exc:  # a string annotation that does not evaluate
        raise TypeError(
            f"OP.function({func.__qualname__}): cannot evaluate its annotations ({exc}); "
            "import the names used in them at module level"
        ) from exc


def _input_sign(func: Callable, annotations: dict[str, Any]) -> OPIOSign:
    sign = OPIOSign()
    for name, par in inspect.signature(func).parameters.items():
        if par.kind in (par.VAR_POSITIONAL, par.VAR_KEYWORD):
            raise TypeError(f"OP.function({func.__qualname__}): *{name} is not supported")
        if name not in annotations:
            raise TypeError(
                f"OP.function({func.__qualname__}): parameter '{name}' needs a type annotation"
            )
        ann = annotations[name]
        if par.default is not _EMPTY:
            if isinstance(ann, Artifact):
                if par.default is not None:
                    raise TypeError(
                        f"OP.function({func.__qualname__}): artifact '{name}' may only "
                        "default to None (meaning optional)"
                    )
                ann.optional = True
            elif isinstance(ann, Parameter):
                if not ann.has_default:
                    ann.default = par.default
            else:
                ann = Parameter(ann, default=par.default)
        sign[name] = ann
    return sign


def _is_namedtuple(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def _field_types(cls: type) -> dict[str, Any]:
    try:  # string annotations (``from __future__ import annotations``) evaluated
        return typing.get_type_hints(cls, include_extras=True)
    except TypeError:  # before 3.9: no include_extras
        try:
            return typing.get_type_hints(cls)
        except Exception:
            return dict(cls.__annotations__)
    except Exception:
        return dict(cls.__annotations__)


def _output_sign(ret: Any) -> tuple[OPIOSign, str]:
    """The output sign and how to turn a return value into outputs."""
    if ret is _EMPTY or ret is None or ret is type(None):
        return OPIOSign(), "none"
    if isinstance(ret, Mapping):
        return OPIOSign(dict(ret)), "dict"
    if is_typeddict(ret):
        return OPIOSign(_field_types(ret)), "dict"
    if _is_namedtuple(ret):
        return OPIOSign(_field_types(ret)), "namedtuple"
    if get_origin(ret) is tuple and get_args(ret) and ... not in get_args(ret):
        return OPIOSign({f"dflow_output_{i}": t for i, t in enumerate(get_args(ret))}), "tuple"
    return OPIOSign({"dflow_output": ret}), "single"


def _outputs_of(op_name: str, form: str, result: Any) -> OPIO:
    if form == "none":
        return OPIO()
    if form == "dict":
        if not isinstance(result, Mapping):
            raise SignatureError(
                f"OP {op_name}: the function must return a dict of outputs, "
                f"got {type(result).__name__}"
            )
        return OPIO(result)
    if form == "namedtuple":
        return OPIO(result._asdict() if hasattr(result, "_asdict") else result)
    if form == "tuple":
        if not isinstance(result, (tuple, list)):
            raise SignatureError(
                f"OP {op_name}: the function must return a tuple, got {type(result).__name__}"
            )
        return OPIO({f"dflow_output_{i}": v for i, v in enumerate(result)})
    return OPIO({"dflow_output": result})


def make_function_op(func: Callable, template_kwargs: dict[str, Any]) -> type[OP]:
    """The OP class of ``func`` (see the module docstring)."""
    if not callable(func):
        raise TypeError(f"OP.function expects a function, got {func!r}")
    annotations = _annotations(func)
    input_sign = _input_sign(func, annotations)
    output_sign, form = _output_sign(annotations.get("return", _EMPTY))
    name = func.__name__

    def get_input_sign(cls: type[OP]) -> OPIOSign:
        return OPIOSign(input_sign)

    def get_output_sign(cls: type[OP]) -> OPIOSign:
        return OPIOSign(output_sign)

    @OP.exec_sign_check
    def execute(self: OP, op_in: OPIO) -> OPIO:
        return _outputs_of(name, form, func(**op_in))

    namespace = {
        "__module__": func.__module__,
        "__qualname__": func.__qualname__,
        "__doc__": func.__doc__,
        "__wrapped__": func,
        "func": staticmethod(func),
        "_template_kwargs": dict(template_kwargs),
        "_output_form": form,
        "get_input_sign": classmethod(get_input_sign),
        "get_output_sign": classmethod(get_output_sign),
        "execute": execute,
    }
    return cast("type[OP]", FunctionOPMeta(name, (OP,), namespace))
