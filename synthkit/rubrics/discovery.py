"""Finding rubrics the way pytest finds tests, in a few plain steps:

1. resolve `rubrics.paths` (folders or files, relative to the current folder);
2. find the files matching the patterns (`rubric_*.py`, `*_rubric.py`) below each folder;
3. import each file as a module of its own (nothing is added to `sys.path`);
4. take the classes named `Rubric*` that subclass `Rubric` and are defined in that file,
   unless they opt out with `__rubric__ = False` (a `Rubric` subclass with another name is an
   error: it would silently never grade);
5. make their instances (one per parametrization) and check that rubric ids are unique.

Whatever goes wrong is a `CollectionError` naming the file and line; selection (`-k` style)
happens afterwards, over the collected rubrics' keywords.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import inspect
import math
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

import attrs

from synthkit.errors import SynthkitError
from synthkit.resources import default_dir
from synthkit.rubrics.api import Rubric, RubricDefinitionError
from synthkit.rubrics.examples import Example
from synthkit.rubrics.expression import ExpressionError, compile_expression

__all__ = ["DEFAULT_PATTERNS", "PACKAGED", "Collection", "CollectionError", "CollectionFailed",
           "collect", "collect_file", "keywords", "select_rubrics", "source_of"]

DEFAULT_PATTERNS = ("rubric_*.py", "*_rubric.py")
PACKAGED = "pkg://synthkit/rubrics"  # in rubrics.paths: the example rubrics synthkit ships
_SKIPPED_DIRS = {"__pycache__", "node_modules"}


@attrs.frozen
class CollectionError:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@attrs.frozen
class Collection:
    rubrics: tuple[Rubric, ...]
    errors: tuple[CollectionError, ...]
    files: tuple[Path, ...]

    def select(self, expression: str) -> tuple[Rubric, ...]:
        """The rubrics whose keywords match a pytest `-k` style expression."""
        try:
            matches = compile_expression(expression)
        except ExpressionError as exc:
            raise SynthkitError(f"rubrics.select {expression!r}: {exc}") from None
        return tuple(r for r in self.rubrics if matches(keywords(r)))


class CollectionFailed(SynthkitError):
    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        count = len(collection.errors)
        super().__init__(f"{count} collection error{'s' if count > 1 else ''} "
                         "(rubrics.continue_on_collection_errors=true grades with what loaded): "
                         f"{collection.errors[0]}")


def keywords(rubric: Rubric) -> set[str]:
    """What a selection expression matches against: id, class, criteria, module, marks."""
    cls = type(rubric)
    module_file = sys.modules[cls.__module__].__file__ or ""
    return {rubric.id, cls.__name__, Path(module_file).stem, *rubric.marks(),
            *(spec.name for spec in rubric.criteria())}


def source_of(rubric: Rubric | type[Rubric]) -> tuple[str, int]:
    """File and line of the class; a class built at run time says where it came from
    (`__synthkit_origin__`, line 0)."""
    cls = rubric if inspect.isclass(rubric) else type(rubric)
    origin = cls.__dict__.get("__synthkit_origin__")
    if origin:
        return origin, 0
    file = inspect.getsourcefile(cls) or "?"
    try:
        return file, inspect.getsourcelines(cls)[1]
    except OSError:
        return file, 0


def _resolve(entry: str) -> Path | None:
    if entry == PACKAGED:
        return default_dir("rubrics")
    path = Path(entry).expanduser()
    return path if path.exists() else None


def _find_files(root: Path, patterns: Sequence[str]) -> Iterable[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative[:-1]):
            continue
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
            yield path


def _error_line(exc: BaseException, path: Path) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        return exc.lineno
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if Path(frame.filename) == path]
    return lines[-1] if lines else None


def _import(path: Path) -> ModuleType:
    """Import a rubric file under a name of its own, so files with the same name both load."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"synthkit_rubrics_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect.getsource and pickling find the module here
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ in the user's rubric folders
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


def _check_class(cls: type[Rubric]) -> None:
    for attribute, high in (("weight", None), ("threshold", 1.0)):
        value = getattr(cls, attribute)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value < 0 or (high is not None and value > high):
            bound = "in [0, 1]" if high else ">= 0"
            raise RubricDefinitionError(f"{cls.__name__}.{attribute} must be a number {bound}, "
                                        f"not {value!r}")
    if not cls.criteria():
        raise RubricDefinitionError(
            f"{cls.__name__} has no criteria: decorate methods with @criterion or @judge "
            "(or set __rubric__ = False on a base class)")
    ids = {instance.id for instance in cls.instances()}
    for example in cls.examples:
        if not isinstance(example, Example):
            raise RubricDefinitionError(f"{cls.__name__}.examples holds {example!r}, not an example()")
        unknown = [i for i in example.only if i not in ids]
        if unknown:
            raise RubricDefinitionError(
                f"example {example.name!r} ({example.source}) is only for {', '.join(unknown)}, "
                f"which {cls.__name__} does not make (it makes {', '.join(sorted(ids))})")


def collect_file(path: Path) -> tuple[list[Rubric], list[CollectionError]]:
    """The rubrics one file defines, or the errors that kept them from loading."""
    shown = str(path)
    try:
        module = _import(path)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return [], [CollectionError(shown, _error_line(exc, path), message)]
    rubrics: list[Rubric] = []
    errors: list[CollectionError] = []
    for name, cls in vars(module).items():
        if not (inspect.isclass(cls) and issubclass(cls, Rubric) and cls is not Rubric
                and cls.__module__ == module.__name__ and cls.__dict__.get("__rubric__", True)):
            continue
        if not name.startswith("Rubric"):
            errors.append(CollectionError(shown, source_of(cls)[1], (
                f"{name} subclasses Rubric but its name does not start with 'Rubric': rename it, "
                "or set __rubric__ = False if it is only a base class")))
            continue
        try:
            _check_class(cls)
            instances = cls.instances()
            for instance in instances:
                _ = instance.version  # reads the class source: fails here, not in a later command
            rubrics.extend(instances)
        except Exception as exc:
            errors.append(CollectionError(shown, source_of(cls)[1], f"{type(exc).__name__}: {exc}"))
    return rubrics, errors


def collect(paths: Sequence[str] = ("rubrics",), patterns: Sequence[str] = DEFAULT_PATTERNS, *,
            include_defaults: bool = False, extra: Sequence[Rubric] = ()) -> Collection:
    """Collect the rubrics under `paths`. With `include_defaults`, synthkit's example rubrics
    come first and a collected rubric with the same id replaces one of them; `extra` rubrics
    (built at run time, such as a task app's) come last."""
    rubrics: list[Rubric] = []
    errors: list[CollectionError] = []
    files: list[Path] = []
    defaults: dict[str, Rubric] = {}
    roots: list[tuple[str, Path | None]] = [(str(entry), _resolve(str(entry))) for entry in paths]
    if include_defaults:
        roots.insert(0, (PACKAGED, default_dir("rubrics")))
    for entry, root in roots:
        if root is None:
            if entry == "rubrics" and include_defaults:
                continue  # a project without its own rubrics/ folder uses the defaults alone
            errors.append(CollectionError(entry, None, "rubrics path not found"))
            continue
        for path in _find_files(root.resolve(), patterns):
            if path in files:
                continue
            files.append(path)
            found, failed = collect_file(path)
            if entry == PACKAGED and include_defaults:
                defaults.update((r.id, r) for r in found)
            else:
                rubrics.extend(found)
            errors.extend(failed)
    own = {r.id for r in rubrics}
    rubrics = [r for r in defaults.values() if r.id not in own] + rubrics + list(extra)
    seen: dict[str, Rubric] = {}
    unique = []
    for rubric in rubrics:
        if rubric.id in seen:
            first_file, first_line = source_of(seen[rubric.id])
            here_file, here_line = source_of(rubric)
            errors.append(CollectionError(here_file, here_line,
                                          f"rubric id {rubric.id} is already defined at "
                                          f"{first_file}:{first_line}"))
            continue
        seen[rubric.id] = rubric
        unique.append(rubric)
    return Collection(tuple(unique), tuple(errors), tuple(files))


def select_rubrics(paths: Sequence[str], patterns: Sequence[str], select: str, *,
                   include_defaults: bool = False, continue_on_collection_errors: bool = False,
                   extra: Sequence[Rubric] = ()) -> tuple[Collection, tuple[Rubric, ...]]:
    """Collect and select as the `rubrics.*` config says; collection errors stop here unless
    told to continue, and selecting nothing is an error too."""
    collection = collect(paths, patterns, include_defaults=include_defaults, extra=extra)
    if collection.errors and not continue_on_collection_errors:
        raise CollectionFailed(collection)
    selected = collection.select(select)
    if not selected:
        where = ", ".join(map(str, paths))
        raise SynthkitError(f"no rubric selected by {select!r} among the {len(collection.rubrics)} "
                            f"collected from {where}" if select else f"no rubric found in {where}")
    return collection, selected
