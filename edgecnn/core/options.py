"""Options declared once: a dataclass field carries its default, help text and domain.

    @dataclass
    class WidgetOptions:
        widgets: int = opt(4, "How many widgets.", min=1)
        colour: str = opt("red", "Their colour.", choices=("red", "green"))

``choices`` may also be a function returning them, for a domain that can grow while the program runs (the
engines of :mod:`edgecnn.engines.registry`); it is asked each time a value is checked.

From that one declaration come the library's validation (:func:`check_options`, whose
error names the *option*), the recipe section's schema (a wrong value is refused with
its YAML path) and the command line's click options (phrased as ``--flag``). Nothing
else restates a default, a help text or a range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable

from ..errors import UsageError


@dataclass(frozen=True)
class Domain:
    """The values an option accepts. ``check`` returns what is wrong with a value, or None."""

    choices: tuple | Callable[[], tuple] | None = None  # a function: asked each time (a registry that can grow)
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # min itself is excluded
    max_open: bool = False
    check: Callable[[Any], str | None] | None = None
    describe: str | None = None  # words for the domain, when choices/min/max do not say it

    def problem(self, value: Any) -> str | None:
        if value is None:
            return None
        if self.check is not None:
            return self.check(value)
        choices = self.values()
        if choices is not None and value not in choices:
            import difflib

            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
            return (f"must be one of {', '.join(map(str, choices))}, got {value!r}"
                    + (f"; did you mean {close[0]}?" if close else ""))
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            return f"must be {self.range_words()}, got {value!r}"
        if self.max is not None and (value > self.max or (self.max_open and value == self.max)):
            return f"must be {self.range_words()}, got {value!r}"
        return None

    def values(self) -> tuple | None:
        """The choices as they are now."""
        return tuple(self.choices()) if callable(self.choices) else self.choices

    def range_words(self) -> str:
        if self.describe:
            return self.describe
        low = None if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        high = None if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        if low and high:
            return f"{low} and {high}"
        return low or high or "any value"


@dataclass(frozen=True)
class OptionInfo:
    help: str = ""
    domain: Domain = field(default_factory=Domain)
    flag: str | None = None  # the command-line spelling when it is not --field-name ("--per-channel/--per-tensor")
    metavar: str | None = None
    cli: bool = True  # offered on the command line
    recipe: bool = True  # a key of the recipe section (False: the pipeline derives it from other sections)


def opt(default: Any = MISSING, help: str = "", *, choices=None, min=None, max=None, min_open: bool = False,
        max_open: bool = False, check=None, describe: str | None = None, flag: str | None = None,
        metavar: str | None = None, cli: bool = True, recipe: bool = True, default_factory=MISSING) -> Any:
    """A dataclass field with its help text and domain (see the module docstring)."""
    choices = choices if choices is None or callable(choices) else tuple(choices)
    info = OptionInfo(help=help, domain=Domain(choices, min, max, min_open,
                                               max_open, check, describe), flag=flag, metavar=metavar, cli=cli,
                      recipe=recipe)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={"option": info})
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"option": info})
    return field(default=default, metadata={"option": info})


def from_declaration(declaration: Any, **extra: Any) -> Any:
    """A field built from a declaration the device package ships (:class:`edgecnn.core.device.options.Declaration`):
    its default, help, spelling and lower bound, so the bundle's infer.py and edgecnn read one declaration.
    A list option's default is a tuple there (a list here); its items' bound is the ``check`` ``extra`` gives."""
    default = declaration.default
    if isinstance(default, tuple):
        default = list(default)
    else:
        extra.setdefault("min", declaration.min)
    return opt(default, declaration.help, flag=declaration.flag, metavar=declaration.metavar, **extra)


def same_as(cls: type, name: str, **where: bool) -> Any:
    """A field that is option ``name`` of options dataclass ``cls`` again (its default, help, domain and spelling),
    for another dataclass that carries it too; ``where`` (``cli``, ``recipe``) says where that one offers it."""
    original = next(f for f in dataclasses.fields(cls) if f.name == name)
    info = dataclasses.replace(option_info(original), **where)
    if original.default_factory is not MISSING:  # type: ignore[misc]
        return field(default_factory=original.default_factory, metadata={"option": info})  # type: ignore[misc]
    return field(default=original.default, metadata={"option": info})


def option_info(f: dataclasses.Field) -> OptionInfo:
    return f.metadata.get("option") or OptionInfo()


class OptionError(UsageError):
    """A value outside its option's domain. ``option`` is the field name; callers phrase it for their users
    (``--samples`` on the command line, ``quantize.samples`` in a recipe)."""

    def __init__(self, option: str, problem: str, owner: type | None = None):
        self.option, self.problem, self.owner = option, problem, owner
        super().__init__(f"{option} {problem}")

    def phrased(self, name: str) -> str:
        return f"{name} {self.problem}"

    def as_flag(self) -> str:
        """The message with the option spelled as its command-line flag."""
        try:
            name = flag_for(self.owner, self.option) if self.owner else "--" + self.option.replace("_", "-")
        except StopIteration:
            name = "--" + self.option.replace("_", "-")
        return self.phrased(name)


def check_options(instance: Any) -> None:
    """Raise :class:`OptionError` for the first field whose value is outside its declared domain."""
    for f in dataclasses.fields(instance):
        problem = option_info(f).domain.problem(getattr(instance, f.name))
        if problem:
            raise OptionError(f.name, problem, type(instance))


def flag_name(f: dataclasses.Field) -> str:
    return option_info(f).flag or "--" + f.name.replace("_", "-")


def flag_for(cls: type, name: str) -> str:
    """The command-line spelling of option ``name`` of ``cls`` (the positive half of a --x/--no-x pair)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return flag_name(f).split("/")[0]


def with_defaults(cls: type, name: str | None = None, **defaults: Any) -> type:
    """A subclass of options dataclass ``cls`` whose listed fields have other defaults; help, domain and
    spelling stay those of the one declaration (a recipe exports a dynamic batch, the command line batch 1)."""
    annotations, namespace = {}, {}
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in defaults.items():
        original = by_name[key]
        annotations[key] = original.type
        if isinstance(value, (list, dict, set)):
            namespace[key] = field(default_factory=lambda v=value: type(v)(v), metadata=original.metadata)
        else:
            namespace[key] = field(default=value, metadata=original.metadata)
    namespace["__annotations__"] = annotations
    namespace["__doc__"] = cls.__doc__
    return dataclass(type(name or cls.__name__, (cls,), namespace))


# ---------------------------------------------------------------- the command line
def _resolve(tp):
    """(base type, optional, list item type or None) of an annotation such as ``int | None`` or ``list[str]``."""
    import typing

    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    optional = type(None) in args
    if optional:
        inner = [a for a in args if a is not type(None)]
        tp = inner[0]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple):
        return list, optional, args[0] if args else str
    return tp, optional, None


def _split(item_type, check=None):
    def parse(ctx, param, value):
        if value is None or isinstance(value, (list, tuple)):
            return value
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        try:
            values = [item_type(p) for p in parts]
        except ValueError:
            raise _bad(f"expected comma-separated {item_type.__name__} values, got {value!r}") from None
        problem = check(values) if check else None
        if problem:
            raise _bad(problem)
        return values

    return parse


def _bad(message: str):
    import click

    return click.BadParameter(message)


def click_options(cls: type, *, skip: tuple[str, ...] = ()):
    """A decorator adding one click option per field of options dataclass ``cls`` (declared order)."""
    import typing

    import click

    hints = typing.get_type_hints(cls)

    def decorate(command):
        for f in reversed(dataclasses.fields(cls)):
            info = option_info(f)
            if not info.cli or f.name in skip:
                continue
            command = click.option(*_click_decls(f, info), **_click_kwargs(f, info, hints[f.name]))(command)
        return command

    return decorate


def LiveChoice(values: Callable[[], tuple]):
    """A ``click.Choice`` whose choices are ``values()`` each time they are read (help, parsing, errors): a
    registry that grows after the command is declared (engines registered later) is seen."""
    import click

    class _LiveChoice(click.Choice):
        def __init__(self):
            super().__init__([str(v) for v in values()])

        @property
        def choices(self):
            return tuple(str(v) for v in values())

        @choices.setter
        def choices(self, _value):
            pass

    return _LiveChoice()


def _click_decls(f: dataclasses.Field, info: OptionInfo) -> list[str]:
    return [flag_name(f), f.name]


def _default_of(f: dataclasses.Field):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _click_kwargs(f: dataclasses.Field, info: OptionInfo, annotation) -> dict:
    import click

    base, optional, item = _resolve(annotation)
    domain = info.domain
    default = _default_of(f)
    kwargs: dict[str, Any] = {"help": info.help, "default": default, "show_default": not (default is None or default is False or default == [])}
    if info.metavar:
        kwargs["metavar"] = info.metavar
    if base is bool:
        if "/" not in flag_name(f):
            kwargs["is_flag"] = True
        kwargs["default"] = bool(default)
        kwargs["show_default"] = "/" in flag_name(f)
        return kwargs
    if base is list:
        kwargs.update(default=None if not default else ",".join(map(str, default)), callback=_split(item, domain.check),
                      metavar=info.metavar or f"{item.__name__.upper()},...")
        if default:
            kwargs["show_default"] = True
        return kwargs
    if domain.choices is not None:
        kwargs["type"] = LiveChoice(domain.values) if callable(domain.choices) else \
            click.Choice([str(c) for c in domain.choices])
    elif base is int and (domain.min is not None or domain.max is not None) and domain.check is None:
        kwargs["type"] = click.IntRange(domain.min, domain.max, min_open=domain.min_open, max_open=domain.max_open)
    elif base is float and (domain.min is not None or domain.max is not None) and domain.check is None:
        kwargs["type"] = click.FloatRange(domain.min, domain.max, min_open=domain.min_open, max_open=domain.max_open)
    elif base in (int, float, str):
        kwargs["type"] = base
    if domain.check is not None:
        def validate(ctx, param, value, check=domain.check, convert=base):
            if value is None:
                return value
            problem = check(value)
            if problem:
                raise _bad(problem)
            return value

        kwargs["callback"] = validate
    return kwargs


def from_kwargs(cls: type, kwargs: dict, **extra: Any):
    """Build ``cls`` from a click command's keyword arguments, taking (popping) the fields it declares."""
    declared = {f.name: f for f in dataclasses.fields(cls) if option_info(f).cli}
    values = {name: kwargs.pop(name) for name in list(kwargs) if name in declared}
    # a list flag not given arrives as None: the declaration's own default applies
    values = {k: v for k, v in values.items() if v is not None or _default_of(declared[k]) is None}
    return cls(**values, **extra)


def options_or_keywords(cls: type, options: Any, keywords: dict, **extra: Any):
    """The Python API's two ways of giving an operation's options: an instance of ``cls`` (what the command line
    builds), or its fields as keyword arguments (``edgecnn.quantize(..., method="entropy")``); not both. A
    keyword ``cls`` does not declare is refused, naming the ones it does."""
    if options is not None:
        if keywords:
            raise UsageError(f"give the options as {cls.__name__} or as keywords ({', '.join(sorted(keywords))}), "
                             "not both")
        if not isinstance(options, cls):
            raise UsageError(f"options must be a {cls.__name__}, got {type(options).__name__}")
        return options
    declared = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(keywords) - declared)
    if unknown:
        raise UsageError(f"{cls.__name__} has no option {', '.join(map(repr, unknown))}; it takes "
                         f"{', '.join(sorted(declared))}")
    return cls(**{**extra, **keywords})
