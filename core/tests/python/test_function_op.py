"""``OP.function``: signs from annotations, outputs from the return annotation."""

# ruff: noqa: UP006, UP035 - pydflow forms; UP037 would unquote dict-literal keys

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import List, NamedTuple, Tuple, TypedDict

import pytest
from dflow.python import function_op
from dflow.python.errors import SignatureError
from dflow.python.op import OP, make_instance
from dflow.python.opio import OPIO, Artifact, BigParameter, Parameter


@OP.function
def copy_msg(
    msg: str,
    foo: Artifact(Path),
    times: int = 2,
    big: BigParameter(dict) = None,
    extra: Artifact(list[Path]) = None,
) -> {"msg": str, "bar": Artifact(Path)}:  # dict keys, not names
    """Repeat the message."""
    return {"msg": msg * times, "bar": foo}


class Pair(NamedTuple):
    low: int
    high: int


class Stats(TypedDict):
    mean: float
    n: int


@OP.function
def pair(x: int) -> Pair:
    return Pair(x - 1, x + 1)


@OP.function(image="python:3.11", retry_on_transient_error=2)
def stats(values: List[float]) -> Stats:
    return {"mean": sum(values) / len(values), "n": len(values)}


@OP.function
def split(x: int) -> Tuple[int, str]:
    return x, str(x)


@OP.function
def square(x: int) -> int:
    return x * x


@OP.function
def nothing(x: int = 1):
    pass


def test_input_sign_from_annotations_and_defaults():
    sign = copy_msg.get_input_sign()
    assert sign["msg"] is str
    assert isinstance(sign["foo"], Artifact) and sign["foo"].type is Path
    assert not sign["foo"].optional
    assert isinstance(sign["times"], Parameter) and sign["times"].default == 2
    assert isinstance(sign["big"], BigParameter) and sign["big"].default is None
    assert sign["extra"].optional  # an artifact defaulting to None is optional


def test_output_sign_forms():
    out = copy_msg.get_output_sign()
    assert out["msg"] is str and out["bar"].type is Path
    assert dict(pair.get_output_sign()) == {"low": int, "high": int}
    assert dict(stats.get_output_sign()) == {"mean": float, "n": int}
    assert dict(split.get_output_sign()) == {"dflow_output_0": int, "dflow_output_1": str}
    assert dict(square.get_output_sign()) == {"dflow_output": int}
    assert dict(nothing.get_output_sign()) == {}


def test_execute_maps_return_values_to_outputs():
    assert make_instance(pair).execute(OPIO(x=3)) == {"low": 2, "high": 4}
    assert make_instance(stats).execute(OPIO(values=[1.0, 3.0])) == {"mean": 2.0, "n": 2}
    assert make_instance(split).execute(OPIO(x=3)) == {"dflow_output_0": 3, "dflow_output_1": "3"}
    assert make_instance(square).execute(OPIO(x=3)) == {"dflow_output": 9}
    assert make_instance(nothing).execute(OPIO()) == {}
    out = make_instance(copy_msg).execute(OPIO(msg="ab", foo=Path("f")))
    assert out == {"msg": "abab", "bar": Path("f")}


def test_execute_checks_types_with_the_function_name():
    with pytest.raises(SignatureError, match=r"OP square: input 'x' expects int, got str \('3'\)"):
        make_instance(square).execute(OPIO(x="3"))


def test_it_is_an_op_class_that_stays_callable_as_the_function():
    assert isinstance(square, type) and issubclass(square, OP)
    assert square(x=4) == 16 and square(5) == 25
    assert pair(x=1) == Pair(0, 2)
    assert square.func.__name__ == "square"
    assert square.__module__ == __name__ and square.__qualname__ == "square"
    assert square.__doc__ is None and copy_msg.__doc__ == "Repeat the message."
    assert stats._template_kwargs == {"image": "python:3.11", "retry_on_transient_error": 2}


def test_located_by_module_and_qualname_and_pickled_by_reference():
    module = sys.modules[square.__module__]
    assert getattr(module, square.__qualname__) is square
    assert pickle.loads(pickle.dumps(square)) is square
    inst = pickle.loads(pickle.dumps(make_instance(square)))
    assert type(inst) is square


def test_call_in_context_hook(monkeypatch):
    calls = []

    def hook(op, args, kwargs):
        calls.append((op, args, kwargs))
        return "task" if kwargs.get("x") == 0 else NotImplemented

    monkeypatch.setattr(function_op, "_on_call_in_context", hook)
    assert square(x=0) == "task"
    assert square(x=3) == 9
    assert calls[0] == (square, (), {"x": 0})


def test_bad_functions_are_reported():
    def untyped(x):
        return x

    with pytest.raises(TypeError, match="parameter 'x' needs a type annotation"):
        OP.function(untyped)

    def varargs(*xs: int) -> int:
        return 0

    with pytest.raises(TypeError, match=r"\*xs is not supported"):
        OP.function(varargs)

    def art_default(a: Artifact(Path) = Path("x")) -> int:
        return 0

    with pytest.raises(TypeError, match="artifact 'a' may only default to None"):
        OP.function(art_default)


def test_dict_return_must_be_a_dict():
    @OP.function
    def wrong(x: int) -> {"y": int}:
        return x

    with pytest.raises(SignatureError, match="the function must return a dict of outputs"):
        make_instance(wrong).execute(OPIO(x=1))
