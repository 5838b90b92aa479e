"""Logging set-up: one structured stream on stderr, JSON lines unless stderr is a terminal
(or the config says so), for the proxy's own lines and the libraries' alike.

The contract that keeps requests' data (header values, keys, prompts) out of the log, even
when a library or an exception quotes it:

- the proxy's own lines (structlog) carry only the fields their call names;
- a library's record (aiohttp, asyncio, redis... through the std ``logging`` module) is
  rendered with its logger name, level and the prose of its message only: the format
  string, never its arguments, cut at its first line and at the first quote, parenthesis,
  bracket, brace or angle bracket (where libraries put reprs of requests, callbacks, tasks
  and exceptions). Libraries speak from warning up, and at debug when the config says so;
- an exception attached to any line is rendered as its type (``exc_type``, and
  ``exc_chain`` for its causes) and its stack's frames (``stack``: file, line, function and
  source line), never its message: a parser error's message quotes the bytes it refused.

Python's warnings are log lines too (``python_warning``: category, file and line, and the
prose of the message), as are ``serve``'s start-up and shutdown lines (``listening``,
``startup_failed``, ``shutdown_started``...: proxy/commands/serve.py, proxy/shutdown.py):
with JSON selected, every line on stderr is JSON.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
import warnings
from contextvars import ContextVar, Token
from typing import Any, Protocol, TextIO

import orjson
import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from proxy.observability.tracing import log_ids

_PROSE = re.compile(r"[^\n'\"(<\[{]*")
# The id of the request a line is logged in (``in_request``): one ContextVar set per
# request, where structlog's bind_contextvars builds and resets a dict of them.
_REQUEST_ID: ContextVar[str | None] = ContextVar("safety_proxy_request_id", default=None)


class LoggingSettings(Protocol):
    """What the set-up reads (the config's ``logging`` section, LoggingConfig, has it)."""

    @property
    def level(self) -> str: ...  # debug | info | warning | error
    @property
    def format(self) -> str: ...  # auto | json | console


def configure_logging(config: LoggingSettings) -> None:
    level = getattr(logging, config.level.upper())
    as_json = config.format == "json" or (config.format == "auto" and not sys.stderr.isatty())
    renderer = (structlog.processors.JSONRenderer(serializer=json_line) if as_json
                else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[
            request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            trace_ids,
            exception_summary,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    route_library_logs(renderer, logging.DEBUG if level == logging.DEBUG
                       else max(level, logging.WARNING))


def in_request(request_id: str) -> Token[str | None]:
    """Every line logged from here (in this context and those copied from it) carries
    ``request_id``, until ``out_of_request`` with the token this returns."""
    return _REQUEST_ID.set(request_id)


def out_of_request(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


def request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Adds ``request_id`` to a line logged inside a request (``in_request``), unless the
    line names one itself."""
    current = _REQUEST_ID.get()
    if current is not None:
        event_dict.setdefault("request_id", current)
    return event_dict


def json_line(event: EventDict, **options: Any) -> str:
    """A line's JSON: orjson (a fifth of ``json.dumps``'s time on a request's line), UTF-8
    as it is; ``json.dumps`` for what orjson refuses (an integer past 64 bits).
    ``options``: JSONRenderer's (``default``: how an unknown object is written)."""
    try:
        return orjson.dumps(event, default=options.get("default"),
                            option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event, **options)


class BoundOnce:
    """``structlog.get_logger(name)`` for a line written on every request, bound once per
    structlog configuration (its processors, wrapper class and logger factory). structlog's
    own proxy binds anew on every call, a logger and a wrapper built each time:
    ``cache_logger_on_first_use`` is off so that a later configure_logging (the config's
    own, after the defaults) takes effect everywhere."""

    __slots__ = ("_bound", "_configuration", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: FilteringBoundLogger | None = None
        self._configuration: tuple[int, object, object] | None = None

    def get(self) -> FilteringBoundLogger:
        config = structlog.get_config()
        configuration = (id(config["processors"]), config["wrapper_class"],
                         config["logger_factory"])
        if self._bound is None or configuration != self._configuration:
            self._bound = structlog.get_logger(self._name).bind()
            self._configuration = configuration
        return self._bound


class LibraryLogHandler(logging.StreamHandler[TextIO]):
    """The one handler on the root logger: libraries' records, rendered like the proxy's."""


def route_library_logs(renderer: Processor, level: int) -> None:
    """Replaces the root logger's LibraryLogHandler (any other handler, a test runner's,
    stays) with one that renders through ``renderer`` on stderr, from ``level`` up."""
    handler = LibraryLogHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            trace_ids,
            library_message,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exception_summary,
            renderer,
        ],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, LibraryLogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    warnings.showwarning = show_warning


def trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Adds ``trace_id`` and ``span_id`` (the current span's, hex) to a line logged inside
    a traced request (observability/tracing.py); other lines are left as they are."""
    ids = log_ids()
    if ids is not None:
        event_dict["trace_id"], event_dict["span_id"] = ids
    return event_dict


def library_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A library record's ``event``: the prose of its format string (see the module doc)."""
    record: logging.LogRecord = event_dict["_record"]
    template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
    prose = _PROSE.match(template)
    event_dict["event"] = (prose.group().strip() if prose else "") or "library_log"
    return event_dict


def show_warning(message: Warning | str, category: type[Warning], filename: str,
                 lineno: int, file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning``: a warning as one log line (see the module doc)."""
    prose = _PROSE.match(str(message))
    structlog.get_logger("py.warnings").warning(
        "python_warning", category=category.__name__, location=f"{filename}:{lineno}",
        detail=prose.group().strip() if prose else "")


def exception_summary(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replaces ``exc_info`` by the exception's type, its causes' types and its frames."""
    exc = _exception(event_dict.pop("exc_info", None))
    if exc is None:
        return event_dict
    event_dict["exc_type"] = _type_name(exc)
    chain = _causes(exc)
    if chain:
        event_dict["exc_chain"] = [_type_name(cause) for cause in chain]
    event_dict["stack"] = "".join(traceback.format_list(traceback.extract_tb(
        exc.__traceback__)))
    return event_dict


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if len(exc_info) == 3 else None
    return sys.exc_info()[1] if exc_info else None


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and cause not in chain and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")
