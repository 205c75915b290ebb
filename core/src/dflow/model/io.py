"""Inputs and outputs of templates and steps, and the expression algebra on parameters.

A parameter or artifact object is both a declaration (on a template) and a reference (on a step,
or as ``template.inputs.parameters["x"]`` inside a Steps/DAG). ``str(obj)`` is the Argo variable
(``{{steps.hello.outputs.parameters.msg}}``) and ``obj.expr`` the expr-lang term
(``steps['hello'].outputs.parameters['msg']``): both engines read the same strings.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..serialization import dump_value

PARAM_NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
FORBIDDEN_ARTIFACT_PATHS = ("/", "/tmp")


class _Missing:
    """Sentinel: no value / no default."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __reduce__(self):
        return (_Missing, ())


MISSING: Any = _Missing()


def to_expr(value: Any) -> str:
    """The expr-lang term for a Python value or an ArgoVar."""
    if isinstance(value, ArgoVar):
        return value.expr
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "nil"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return to_expr(dump_value(value))


def _number(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return f"asFloat({to_expr(value)})"


class ArgoVar:
    """An expr-lang expression built from parameters with Python operators.

    ``p1 < p2``, ``p + 1``, ``p[0]`` build new expressions; ``str(var)`` is ``{{=expr}}``.
    Comparisons return ArgoVars (so ``when=p1 < p2`` works): compare references with ``is``.
    """

    def __init__(self, expr: str | None = None) -> None:
        self._expr = expr

    @property
    def expr(self) -> str:
        return self._expr or ""

    def __str__(self) -> str:
        return "{{=%s}}" % self.expr

    __repr__ = __str__
    __hash__ = object.__hash__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __getitem__(self, index: Any) -> ArgoVar:
        if isinstance(index, str):
            return ArgoVar(f"jsonpath({self.expr}, '$')[{to_expr(index)}]")
        return ArgoVar(f"jsonpath({self.expr}, '$')[{int(index)}]")

    def _compare(self, op: str, other: Any) -> ArgoVar:
        return ArgoVar(f"{_number(self)} {op} {_number(other)}")

    def __lt__(self, other: Any) -> ArgoVar:
        return self._compare("<", other)

    def __le__(self, other: Any) -> ArgoVar:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> ArgoVar:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> ArgoVar:
        return self._compare(">=", other)

    def __eq__(self, other: Any) -> ArgoVar:  # type: ignore[override]
        if isinstance(other, int | float) and not isinstance(other, bool):
            return self._compare("==", other)
        return ArgoVar(f"{self.expr} == {to_expr(other)}")

    def __ne__(self, other: Any) -> ArgoVar:  # type: ignore[override]
        if isinstance(other, int | float) and not isinstance(other, bool):
            return self._compare("!=", other)
        return ArgoVar(f"{self.expr} != {to_expr(other)}")

    def _arith(self, op: str, other: Any, reverse: bool = False) -> ArgoVar:
        a, b = _number(self), _number(other)
        return ArgoVar(f"({b} {op} {a})" if reverse else f"({a} {op} {b})")

    def __add__(self, other: Any) -> ArgoVar:
        return self._arith("+", other)

    def __radd__(self, other: Any) -> ArgoVar:
        return self._arith("+", other, True)

    def __sub__(self, other: Any) -> ArgoVar:
        return self._arith("-", other)

    def __rsub__(self, other: Any) -> ArgoVar:
        return self._arith("-", other, True)

    def __mul__(self, other: Any) -> ArgoVar:
        return self._arith("*", other)

    def __rmul__(self, other: Any) -> ArgoVar:
        return self._arith("*", other, True)

    def __truediv__(self, other: Any) -> ArgoVar:
        return self._arith("/", other)

    def __rtruediv__(self, other: Any) -> ArgoVar:
        return self._arith("/", other, True)


class IfExpression(ArgoVar):
    """``_if ? _then : _else`` (see :func:`if_expression`).

    The text is built when read, so branches may be steps' outputs bound later.
    """

    def __init__(self, _if: Any, _then: Any, _else: Any) -> None:
        super().__init__(None)
        self._if, self._then, self._else = _if, _then, _else

    @property
    def condition(self) -> str:
        """The expr-lang condition (see :func:`condition_expr`)."""
        return condition_expr(self._if)

    @property
    def expr(self) -> str:
        return f"(({self.condition}) ? {to_expr(self._then)} : {to_expr(self._else)})"


def condition_expr(cond: Any) -> str:
    """The expr-lang text of a condition, as pydflow wrote it.

    A parameter is true when its text is ``true`` (Argo keeps every value as text, and a bool
    output is stored as ``true``/``false``, which expr-lang will not take as a condition); a
    str is expression text, pasted as is; an ArgoVar (``p < 3``) is its expression.
    """
    if isinstance(cond, bool):
        return "true" if cond else "false"
    if isinstance(cond, InputParameter | OutputParameter):
        return f"{cond.expr} == 'true'"
    if isinstance(cond, ArgoVar):
        return cond.expr
    if isinstance(cond, str):
        return cond
    return to_expr(cond)


def if_expression(_if: Any, _then: Any, _else: Any) -> IfExpression:
    """A conditional value: for ``when``, ``value_from_expression`` and ``from_expression``.

    ``_if`` is a comparison (``p < 3``), a bool parameter, a bool or expression text;
    ``_then``/``_else`` are parameters, artifacts (for ``from_expression``) or literals.
    """
    return IfExpression(_if, _then, _else)


# -- parameters and artifacts ---------------------------------------------------------------


class _IOBase(ArgoVar):
    kind = ""  # "parameters" | "artifacts"
    direction = ""  # "inputs" | "outputs"

    name: str | None
    step: Any
    template: Any

    def _owner_expr(self) -> tuple[str, str]:
        """(expr prefix, variable prefix) for the owner of this object."""
        step = self.step
        if step is not None:
            group = "tasks" if getattr(step, "is_task", False) else "steps"
            return f"{group}['{step.name}'].", f"{group}.{step.name}."
        if getattr(self, "_workflow_scope", False):
            return "workflow.", "workflow."
        return "", ""

    @property
    def expr(self) -> str:
        prefix, _ = self._owner_expr()
        return f"{prefix}{self.direction}.{self.kind}['{self.name}']"

    @property
    def variable(self) -> str:
        """The Argo variable path (without braces)."""
        _, prefix = self._owner_expr()
        return f"{prefix}{self.direction}.{self.kind}.{self.name}"

    def __str__(self) -> str:
        return "{{%s}}" % self.variable

    __repr__ = __str__
    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict) -> Any:
        # steps and templates are references, never copied along with an io object
        new = copy.copy(self)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k in ("step", "template"):
                continue
            setattr(new, k, copy.deepcopy(v, memo))
        return new


class InputParameter(_IOBase):
    """An input parameter. ``value`` is its default (on a template) or its value (on a step)."""

    kind, direction = "parameters", "inputs"

    def __init__(
        self,
        name: str | None = None,
        step: Any = None,
        template: Any = None,
        type: Any = None,
        save_as_artifact: bool = False,
        path: str | None = None,
        source: Any = None,
        value: Any = MISSING,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.name, self.step, self.template = name, step, template
        self.type = type
        self.save_as_artifact = save_as_artifact
        self.path = path
        self.source = source
        self.value = value
        self.description = description
        if "default" in kwargs:
            self.value = kwargs.pop("default")
        if kwargs:
            raise TypeError(f"InputParameter: unexpected arguments {sorted(kwargs)}")

    @property
    def has_value(self) -> bool:
        return self.value is not MISSING


class InputArtifact(_IOBase):
    """An input artifact, placed at ``path`` in the step's filesystem."""

    kind, direction = "artifacts", "inputs"

    def __init__(
        self,
        path: str | None = None,
        name: str | None = None,
        step: Any = None,
        template: Any = None,
        optional: bool = False,
        type: Any = None,
        source: Any = None,
        mode: int | None = None,
        sub_path: str | None = None,
        archive: str | None = "default",
        save_as_parameter: bool = False,
        **kwargs: Any,
    ) -> None:
        if path in FORBIDDEN_ARTIFACT_PATHS:
            raise ValueError(f"InputArtifact path {path!r} is not allowed: pick a sub-directory")
        self.path, self.name, self.step, self.template = path, name, step, template
        self.optional = optional
        self.type = type
        self.source = source
        self.mode = mode
        self._sub_path = sub_path
        self.archive = archive
        self.save_as_parameter = save_as_parameter
        self.slice = None
        if kwargs:
            raise TypeError(f"InputArtifact: unexpected arguments {sorted(kwargs)}")

    def sub_path(self, path: str) -> ArtifactRef:
        return ArtifactRef(self, sub_path=path)

    def __getitem__(self, index: Any) -> ArtifactRef:  # type: ignore[override]
        return ArtifactRef(self, slice=index)


class OutputParameter(_IOBase):
    """An output parameter: from a file (``value_from_path``), another parameter
    (``value_from_parameter``), an expression (``value_from_expression``) or a fixed ``value``."""

    kind, direction = "parameters", "outputs"

    def __init__(
        self,
        value_from_path: str | None = None,
        value_from_parameter: Any = None,
        name: str | None = None,
        step: Any = None,
        template: Any = None,
        type: Any = None,
        global_name: str | None = None,
        value_from_expression: Any = None,
        save_as_artifact: bool = False,
        save_both: bool = False,
        default: Any = MISSING,
        value: Any = MISSING,
        description: str | None = None,
    ) -> None:
        self.save_as_artifact = save_as_artifact
        self.value_from_path = value_from_path
        self.value_from_parameter = value_from_parameter
        self.name, self.step, self.template = name, step, template
        self.type = type
        self.global_name = global_name
        self.value_from_expression = value_from_expression
        self.save_both = save_both
        self.default = default
        self.value = value
        self.description = description

    @property
    def value_from_parameter(self) -> Any:
        return self._value_from_parameter

    @value_from_parameter.setter
    def value_from_parameter(self, source: Any) -> None:
        # a Steps/DAG output taken from a big parameter is big too: on Argo it is the file
        # its source is (an output artifact), as pydflow has it
        self._value_from_parameter = source
        if isinstance(source, InputParameter | OutputParameter) and source.save_as_artifact:
            self.save_as_artifact = True


class OutputArtifact(_IOBase):
    """An output artifact collected from ``path`` (or ``_from`` / ``from_expression`` on Steps/DAG)."""

    kind, direction = "artifacts", "outputs"

    def __init__(
        self,
        path: str | None = None,
        _from: Any = None,
        name: str | None = None,
        step: Any = None,
        template: Any = None,
        type: Any = None,
        save: list | None = None,
        archive: str | None = "default",
        global_name: str | None = None,
        from_expression: Any = None,
        optional: bool = False,
    ) -> None:
        self.path = path
        self._from = _from
        self.name, self.step, self.template = name, step, template
        self.type = type
        self.save = list(save or [])
        self.archive = archive
        self.global_name = global_name
        self.from_expression = from_expression
        self.optional = optional

    def sub_path(self, path: str) -> ArtifactRef:
        return ArtifactRef(self, sub_path=path)

    def __getitem__(self, index: Any) -> ArtifactRef:  # type: ignore[override]
        return ArtifactRef(self, slice=index)

    def pvc(self, size: str = "1Gi", storage_class: str | None = None, access_modes=None) -> PVC:
        """Also copy this artifact to a shared volume when its step succeeds, and return
        the volume path as a source another step may read *while both run*: its input
        is a link that resolves once the copy lands (docs/guide/shared-volumes.md)."""
        from .op_template import randstr  # op_template imports this module

        where = f"{self.name}-{randstr()}" if self.name else randstr()
        volume = PVC("public", where, size, storage_class, access_modes)
        self.save.append(volume)
        return volume


class ArtifactRef:
    """A reference to an artifact narrowed to a sub-path or a slice: ``art.sub_path("x")``, ``art[2]``."""

    def __init__(self, artifact: Any, sub_path: str | None = None, slice: Any = None) -> None:
        self.artifact = artifact
        self.sub_path = sub_path
        self.slice = slice

    @property
    def variable(self) -> str:
        return self.artifact.variable

    def __str__(self) -> str:
        return str(self.artifact)

    __repr__ = __str__


class PVC:
    """A path (``subpath``) on a volume shared by the steps of a workflow (``name``: one
    claim per name, ``size``/``storage_class``/``access_modes`` of its claim on Argo).
    ``OutputArtifact.pvc()`` makes one; as a step's input artifact it is read in place."""

    def __init__(
        self,
        name: str,
        subpath: str = "",
        size: str = "1Gi",
        storage_class: str | None = None,
        access_modes: list[str] | None = None,
    ) -> None:
        self.name = name
        self.subpath = subpath
        self.size = size
        self.storage_class = storage_class
        self.access_modes = access_modes or ["ReadWriteOnce"]

    def __repr__(self) -> str:
        return f"PVC({self.name!r}, {self.subpath!r})"


# -- containers -------------------------------------------------------------------------------


class AutonamedDict(dict):
    """A dict of io objects that stamps each value with its name and owner on insertion."""

    item_type: tuple[type, ...] = ()

    def __init__(self, *args: Any, owner_template: Any = None, owner_step: Any = None, **kw: Any):
        super().__init__()
        self._template = owner_template
        self._step = owner_step
        self.update(*args, **kw)

    def set_owner(self, template: Any = None, step: Any = None) -> None:
        self._template, self._step = template, step
        for v in self.values():
            v.template, v.step = template, step

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not PARAM_NAME_RE.match(key):
            raise ValueError(
                f"invalid parameter/artifact name {key!r}: use letters, digits, '_' or '-'"
            )
        if self.item_type and not isinstance(value, self.item_type):
            expected = " or ".join(t.__name__ for t in self.item_type)
            raise TypeError(f"'{key}' must be {expected}, got {type(value).__name__}")
        value.name = key
        value.template = self._template
        value.step = self._step
        super().__setitem__(key, value)

    def update(self, *args: Any, **kw: Any) -> None:
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def __deepcopy__(self, memo: dict) -> AutonamedDict:
        new = type(self)(owner_template=self._template, owner_step=self._step)
        for k, v in self.items():
            dict.__setitem__(new, k, copy.deepcopy(v, memo))
        return new


class InputParameters(AutonamedDict):
    item_type = (InputParameter,)


class InputArtifacts(AutonamedDict):
    item_type = (InputArtifact,)


class OutputParameters(AutonamedDict):
    item_type = (OutputParameter,)


class OutputArtifacts(AutonamedDict):
    item_type = (OutputArtifact,)


class _IOSet:
    _param_type: type[AutonamedDict]
    _art_type: type[AutonamedDict]

    if TYPE_CHECKING:  # what __setattr__ does: any mapping assigned becomes an AutonamedDict

        @property
        def parameters(self) -> AutonamedDict: ...
        @parameters.setter
        def parameters(self, value: Mapping[str, Any]) -> None: ...
        @property
        def artifacts(self) -> AutonamedDict: ...
        @artifacts.setter
        def artifacts(self, value: Mapping[str, Any]) -> None: ...

    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, Any] | None = None,
        template: Any = None,
        step: Any = None,
    ) -> None:
        self._template, self._step = template, step
        self.parameters = parameters or {}
        self.artifacts = artifacts or {}

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "parameters" and not isinstance(value, self._param_type):
            value = self._param_type(value, owner_template=self._template, owner_step=self._step)
        elif key == "artifacts" and not isinstance(value, self._art_type):
            value = self._art_type(value, owner_template=self._template, owner_step=self._step)
        super().__setattr__(key, value)

    def set_owner(self, template: Any = None, step: Any = None) -> None:
        object.__setattr__(self, "_template", template)
        object.__setattr__(self, "_step", step)
        self.parameters.set_owner(template, step)
        self.artifacts.set_owner(template, step)

    def __deepcopy__(self, memo: dict) -> Any:
        new = type(self).__new__(type(self))
        object.__setattr__(new, "_template", self._template)
        object.__setattr__(new, "_step", self._step)
        object.__setattr__(new, "parameters", copy.deepcopy(self.parameters, memo))
        object.__setattr__(new, "artifacts", copy.deepcopy(self.artifacts, memo))
        return new


class Inputs(_IOSet):
    """``parameters`` and ``artifacts`` a template takes."""

    _param_type, _art_type = InputParameters, InputArtifacts


class Outputs(_IOSet):
    """``parameters`` and ``artifacts`` a template produces."""

    _param_type, _art_type = OutputParameters, OutputArtifacts


def render_value(value: Any) -> str:
    """The Argo text of an argument value: references as ``{{...}}``, literals as text.

    Lists and dicts holding references become JSON with ``{{=...}}`` placeholders, which the
    engines substitute before parsing.
    """
    if isinstance(value, ArgoVar):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | dict) and contains_var(value):
        return _json_with_vars(value)
    return dump_value(value)


def contains_var(value: Any) -> bool:
    """Whether a list/dict literal holds a reference (substituted when the step runs)."""
    if isinstance(value, ArgoVar):
        return True
    if isinstance(value, dict):
        return any(contains_var(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_var(v) for v in value)
    return False


def _json_with_vars(value: Any) -> str:
    if isinstance(value, ArgoVar):
        # toJson keeps the JSON valid whatever the referenced value is
        return "{{=toJson(%s)}}" % value.expr
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))}: {_json_with_vars(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json_with_vars(v) for v in value) + "]"
    return json.dumps(value)


# -- rules both engines follow ----------------------------------------------------------------


def output_parameter_type(param: OutputParameter) -> Any:
    """The type of an output parameter: declared, else its source's (as pydflow infers it).

    A Steps/DAG output taken from another parameter (``value_from_parameter``) or chosen by an
    :func:`if_expression` between parameters has that parameter's type, so a query returns
    ``1`` rather than ``"1"``.
    """
    if param.type is not None:
        return param.type
    src = param.value_from_parameter
    if isinstance(src, InputParameter | OutputParameter):
        return src.type
    expr = param.value_from_expression
    if isinstance(expr, IfExpression):
        for branch in (expr._then, expr._else):
            if isinstance(branch, InputParameter | OutputParameter) and branch.type is not None:
                return branch.type
    return None


# A Step copies its template's inputs when it is built; a template changed afterwards
# (``tmpl.inputs.artifacts["x"].optional = True``, ``tmpl.inputs.parameters["p"].value = 1``, a
# new input) still applies to the step, as it does on Argo, where the template declares its
# inputs itself and the step only passes arguments.


def step_input_names(step: Any, kind: str) -> list[str]:
    """Names of a step's input ``kind`` ("parameters"/"artifacts"): the step's, then any the
    template gained after the step was built."""
    own = list(getattr(step.inputs, kind))
    return own + [n for n in getattr(step.template.inputs, kind) if n not in own]


def step_input_value(step: Any, name: str) -> Any:
    """A step's value for input parameter ``name``: its argument, else the template's default
    as it is now (MISSING when neither exists)."""
    p = step.inputs.parameters.get(name)
    if p is not None and p.value is not MISSING:
        return p.value
    decl = step.template.inputs.parameters.get(name)
    return decl.value if decl is not None else MISSING


def step_input_optional(step: Any, name: str) -> bool:
    """Whether input artifact ``name`` of a step may be left without a source."""
    a = step.inputs.artifacts.get(name)
    decl = step.template.inputs.artifacts.get(name)
    return bool((a is not None and a.optional) or (decl is not None and decl.optional))
