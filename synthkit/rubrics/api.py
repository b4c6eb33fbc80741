"""The rubric author's API: `Rubric`, the `@criterion` and `@judge` decorators, `mark`, `skip`.

A rubric is a class; its criteria are decorated methods. Code criteria compute a score from
the trace; judge criteria state what an LLM judge grades (the docstring or `prompt=`). Marks
label rubrics for selection, and `@mark.parametrize` turns one class into several instances.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import itertools
import json
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from synthkit.rubrics.results import CriterionResult, Outcome

__all__ = ["CriterionSpec", "Rubric", "RubricDefinitionError", "Skipped", "criterion", "judge",
           "mark", "skip"]

_SPEC_ATTR = "__synthkit_criterion__"
_MARKS_ATTR = "__synthkit_marks__"
_PARAMS_ATTR = "__synthkit_parametrize__"


class RubricDefinitionError(TypeError):
    """A rubric or criterion is declared wrongly; collection reports it with file and line."""


class Skipped(Exception):
    """Raised by `skip()`: the criterion does not apply to this trace."""


def skip(reason: str = "does not apply to this trace") -> None:
    """End the running criterion as `skipped`, like `pytest.skip()`."""
    raise Skipped(reason)


def _check_unit(name: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise RubricDefinitionError(f"{what} of {name} must be a number in [0, 1], not {value!r}")
    return float(value)


def _check_weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise RubricDefinitionError(f"weight of {name} must be a number >= 0, not {value!r}")
    return float(value)


@attrs.frozen
class CriterionSpec:
    """One criterion as declared: everything grading and listing need to know about it."""

    name: str
    kind: str  # "code" or "judge"
    func: Callable[..., Any] = attrs.field(eq=False, repr=False)
    weight: float = 1.0
    required: bool = False
    threshold: float | None = None  # None: the rubric's threshold
    prompt: str | None = None
    anchors: Mapping[float, str] = attrs.field(factory=dict)
    applies: Callable[[Any], bool] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def line(self) -> int:
        return inspect.getsourcelines(self.func)[1]

    def result(self, rubric: Rubric, outcome: Outcome, score: float | None = None,
               reason: str | None = None) -> CriterionResult:
        return CriterionResult(rubric_id=rubric.id, criterion=self.name, kind=self.kind,
                               weight=self.weight, required=self.required,
                               threshold=rubric.threshold_for(self), outcome=outcome,
                               score=score, reason=reason)


def _decorator(kind: str, func: Callable[..., Any] | None, options: dict[str, Any]):
    decorator = "criterion" if kind == "code" else "judge"

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.isfunction(fn):
            raise RubricDefinitionError(
                f"@{decorator} decorates a method, not {fn!r} (options are keywords: "
                f"@{decorator}(weight=0.5))")
        name = fn.__name__
        signature = inspect.signature(fn)
        if kind == "code":
            try:
                signature.bind(None, None)
            except TypeError:
                raise RubricDefinitionError(
                    f"criterion {name} must take (self, trace), not "
                    f"({', '.join(signature.parameters)})") from None
        prompt = options.pop("prompt", None)
        anchors = options.pop("anchors", None) or {}
        if kind == "judge":
            prompt = (prompt or inspect.getdoc(fn) or "").strip()
            if not prompt:
                raise RubricDefinitionError(
                    f"judge criterion {name} needs a docstring or prompt= saying what to grade")
            anchors = {_check_unit(name, k, "an anchor score"): str(v) for k, v in anchors.items()}
        threshold = options.pop("threshold", None)
        spec = CriterionSpec(
            name=name, kind=kind, func=fn,
            weight=_check_weight(name, options.pop("weight", 1.0)),
            required=bool(options.pop("required", False)),
            threshold=None if threshold is None else _check_unit(name, threshold, "threshold"),
            prompt=prompt, anchors=anchors, applies=options.pop("applies", None))
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return decorate if func is None else decorate(func)


def criterion(func: Callable[..., Any] | None = None, *, weight: float = 1.0,
              required: bool = False, threshold: float | None = None,
              applies: Callable[[Any], bool] | None = None):
    """A code criterion: a method `(self, trace)` returning a float in [0, 1] or a bool.

    `required=True` makes the rubric's primary 0 when this criterion fails; `applies`, a
    predicate on the trace, skips the criterion where it is false.
    """
    return _decorator("code", func, {"weight": weight, "required": required,
                                     "threshold": threshold, "applies": applies})


def judge(func: Callable[..., Any] | None = None, *, weight: float = 1.0, required: bool = False,
          prompt: str | None = None, anchors: Mapping[float, str] | None = None,
          threshold: float | None = None, applies: Callable[[Any], bool] | None = None):
    """An LLM-judge criterion: the docstring (or `prompt=`) says what the judge grades;
    `anchors` say what scores mean, e.g. `{0: "no progress", 1: "every step counts"}`."""
    return _decorator("judge", func, {"weight": weight, "required": required, "prompt": prompt,
                                      "anchors": anchors, "threshold": threshold,
                                      "applies": applies})


# -- marks ----------------------------------------------------------------------------------------

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def _param_id(value: Any, argname: str, index: int) -> str:
    if isinstance(value, str | int | float | bool) and str(value):
        return _ID_UNSAFE.sub("_", str(value)).strip("_") or f"{argname}{index}"
    return f"{argname}{index}"


@attrs.frozen
class _Parametrization:
    argnames: tuple[str, ...]
    argvalues: tuple[tuple[Any, ...], ...]
    ids: tuple[str, ...]


@attrs.frozen
class MarkDecorator:
    name: str

    def __call__(self, cls: type | None = None) -> type:
        if cls is None:
            raise RubricDefinitionError(f"write @mark.{self.name} without parentheses")
        if not (inspect.isclass(cls) and issubclass(cls, Rubric)):
            raise RubricDefinitionError(f"@mark.{self.name} decorates a Rubric class, not {cls!r}")
        setattr(cls, _MARKS_ATTR, (*cls.__dict__.get(_MARKS_ATTR, ()), self.name))
        return cls


class _MarkGenerator:
    """`mark.NAME` labels a rubric for selection; `mark.parametrize(...)` expands it."""

    def __getattr__(self, name: str) -> MarkDecorator:
        if name.startswith("_"):
            raise AttributeError(name)
        return MarkDecorator(name)

    @staticmethod
    def parametrize(argnames: str | Sequence[str], argvalues: Iterable[Any],
                    ids: Sequence[str] | None = None) -> Callable[[type], type]:
        """Like pytest's: `@mark.parametrize("target", ["collect_wood", "place_table"])` makes one
        rubric instance per value, with `self.target` set and id `RubricName-collect_wood`."""
        names = tuple(n.strip() for n in argnames.split(",")) if isinstance(argnames, str) \
            else tuple(argnames)
        values = []
        for value in argvalues:
            row = tuple(value) if len(names) > 1 else (value,)
            if len(row) != len(names):
                raise RubricDefinitionError(
                    f"parametrize({', '.join(names)}) got {value!r}: {len(row)} values for "
                    f"{len(names)} names")
            values.append(row)
        if not values:
            raise RubricDefinitionError(f"parametrize({', '.join(names)}) got no values")
        if ids is None:
            made = ["-".join(_param_id(v, n, i) for v, n in zip(row, names, strict=True))
                    for i, row in enumerate(values)]
            if len(set(made)) < len(made):  # as pytest: number the ids that clash
                made = [f"{m}_{i}" if made.count(m) > 1 else m for i, m in enumerate(made)]
        else:
            made = [_ID_UNSAFE.sub("_", str(i)) for i in ids]
            if len(made) != len(values):
                raise RubricDefinitionError(f"parametrize got {len(made)} ids for {len(values)} values")
        parametrization = _Parametrization(names, tuple(values), tuple(made))

        def decorate(cls: type) -> type:
            if not (inspect.isclass(cls) and issubclass(cls, Rubric)):
                raise RubricDefinitionError(f"@mark.parametrize decorates a Rubric class, not {cls!r}")
            setattr(cls, _PARAMS_ATTR, (*cls.__dict__.get(_PARAMS_ATTR, ()), parametrization))
            return cls

        return decorate


mark = _MarkGenerator()


def _code_text(code: Any) -> str:
    consts = [_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def _normalised(source: str) -> str:
    try:
        return ast.unparse(ast.parse(textwrap.dedent(source)))
    except SyntaxError:
        return source


def _class_source(cls: type) -> str:
    """The class's source (normalised); for a class without one (made in a notebook cell or by
    `type()`), its methods' bytecode and its other attributes stand in."""
    try:
        return _normalised(inspect.getsource(cls))
    except (OSError, TypeError):
        parts = []
        for name, value in sorted(cls.__dict__.items()):
            function = getattr(value, "__func__", value)
            if inspect.isfunction(function):
                parts.append(f"{name}:{_code_text(function.__code__)}")
            elif not name.startswith("__"):
                parts.append(f"{name}={value!r}")
        return f"{cls.__qualname__}\n" + "\n".join(parts)


def _module_context(cls: type) -> str:
    """The module-level code of a rubric's file, less rubric classes (each hashed on its own)
    and assignments to other rubrics or to `examples`."""
    module = sys.modules.get(cls.__module__)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return ""
    rubric_names = {name for name, value in vars(module).items()
                    if inspect.isclass(value) and issubclass(value, Rubric)}
    own = {klass.__name__ for klass in cls.__mro__}

    def other_rubric_attribute(target: ast.expr) -> bool:
        return (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id in rubric_names
                and (target.value.id not in own or target.attr == "examples"))

    kept = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in rubric_names:
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(other_rubric_attribute(t) for t in targets):
                continue
        kept.append(ast.unparse(node))
    return "\n".join(kept)


def _stable_repr(value: Any) -> str:
    """Parameters that are not JSON, described without memory addresses (stable across runs)."""
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


# -- the rubric -----------------------------------------------------------------------------------

class Rubric:
    """Base class of every rubric. The docstring of a subclass describes it to judges and people.

    Class attributes: `weight` (its share of the overall primary across rubrics), `threshold`
    (the score at which its criteria pass, unless a criterion sets its own), `examples` (golden
    examples for `pytest rubrics/`). `__rubric__ = False` keeps a class out of collection (a base
    class for other rubrics, say); it is not inherited.
    """

    weight: ClassVar[float] = 1.0
    threshold: ClassVar[float] = 0.5
    examples: ClassVar[Sequence[Any]] = ()

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        self._id_suffix: str | None = None
        for name, value in params.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"<{self.id}>"

    # -- identity ----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The class name, plus `-<param id>` for a parametrized instance: a valid config key."""
        name = type(self).__name__
        return f"{name}-{self._id_suffix}" if self._id_suffix else name

    @property
    def description(self) -> str:
        return inspect.getdoc(type(self)) or ""

    @functools.cached_property
    def version(self) -> str:
        """A hash of what decides this rubric's scores: its class and the classes it inherits
        from, the module-level code of its file (helpers, constants; not the other rubrics in it,
        nor golden examples), and its parameters. Edits to comments and layout do not count."""
        digest = hashlib.sha256()
        cls = type(self)
        for klass in cls.__mro__:
            if klass not in (Rubric, object) and klass.__module__ != "builtins":
                digest.update(_class_source(klass).encode())
        digest.update(_module_context(cls).encode())
        digest.update(json.dumps(self.params, sort_keys=True, default=_stable_repr).encode())
        return digest.hexdigest()[:12]

    @classmethod
    def marks(cls) -> tuple[str, ...]:
        found: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get(_MARKS_ATTR, ()):
                if name not in found:
                    found.append(name)
        return tuple(found)

    @classmethod
    def criteria(cls) -> tuple[CriterionSpec, ...]:
        """Criteria in definition order, inherited ones first; a subclass may redefine one."""
        specs: dict[str, CriterionSpec] = {}
        for klass in reversed(cls.__mro__):
            for name, value in klass.__dict__.items():
                spec = getattr(value, _SPEC_ATTR, None)
                if isinstance(spec, CriterionSpec):
                    specs[name] = attrs.evolve(spec, name=name)
                elif name in specs:  # overridden by a plain attribute: no longer a criterion
                    del specs[name]
        return tuple(specs.values())

    @classmethod
    def instances(cls) -> list[Rubric]:
        """One instance per parametrization (the product of several), or the one plain instance."""
        params = cls.__dict__.get(_PARAMS_ATTR, ())
        if not params:
            return [cls()]
        made = []
        # As pytest: the decorator nearest the class gives the first part of the id.
        for combination in itertools.product(*(
                zip(p.ids, p.argvalues, strict=True) for p in params)):
            values: dict[str, Any] = {}
            for (_, row), parametrization in zip(combination, params, strict=True):
                values.update(zip(parametrization.argnames, row, strict=True))
            instance = cls(**values)
            instance._id_suffix = "-".join(part_id for part_id, _ in combination)
            made.append(instance)
        return made

    # -- grading hooks -----------------------------------------------------------------------

    def applies(self, trace: Any) -> bool:
        """Whether this rubric grades `trace` at all; where it does not, every criterion is skipped."""
        return True

    def threshold_for(self, spec: CriterionSpec) -> float:
        return self.threshold if spec.threshold is None else spec.threshold

    def aggregate(self, results: Sequence[CriterionResult]) -> float | None:
        """The rubric's primary from error-free results: the weighted mean of the scored criteria,
        0 when a required criterion failed, None when nothing was scored."""
        scored = [r for r in results if r.outcome in (Outcome.PASSED, Outcome.FAILED)]
        if any(r.required and r.outcome is Outcome.FAILED for r in scored):
            return 0.0
        total = sum(r.weight for r in scored)
        if not scored or total == 0:
            return None
        return sum(r.weight * r.score for r in scored) / total
