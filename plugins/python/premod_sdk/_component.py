"""The component side of the adapter: implements the generated ``train`` and ``serve``
exports by calling the user's module through :mod:`premod_sdk._runtime`.

Imported only inside a component build (it needs the ``wit_world`` bindings that
componentize-py generates); the build writes an app module that calls :func:`exports_for`.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

from . import _runtime

_LEVELS = {
    "trace": types.Level.TRACE,
    "debug": types.Level.DEBUG,
    "info": types.Level.INFO,
    "warn": types.Level.WARN,
    "error": types.Level.ERROR,
}

_ERRORS = {
    "invalid-params": types.Error_InvalidParams,
    "invalid-data": types.Error_InvalidData,
    "io": types.Error_Io,
    "unsupported": types.Error_Unsupported,
    "other": types.Error_Other,
}


class _HostSink:
    """``host.log`` and ``host.progress``."""

    def log(self, level, message):
        host.log(_LEVELS[level], message)

    def progress(self, done, total):
        host.progress(done, total)


def _activate():
    # Set at call time, not at import: the import runs while the component is built, when
    # the host functions do not exist yet.
    _runtime.set_sink(_HostSink())


def _err(failure):
    return Err(_ERRORS.get(failure.kind, types.Error_Other)(failure.message))


def _columns(rule):
    return [(c.name, c.data_type) for c in rule.source_columns]


def exports_for(user):
    """The ``Train`` and ``Serve`` export classes for the user's module ``user``."""
    state = {"service": None}

    class Train(exports.Train):
        def process_for_train(self, ctx):
            _activate()
            try:
                s = _runtime.run_train(
                    user,
                    collection=ctx.paths.collection,
                    output=ctx.paths.output,
                    meta=ctx.paths.meta,
                    input=ctx.paths.input,
                    rule_no=ctx.rule.rule_no,
                    columns=_columns(ctx.rule),
                    params=ctx.rule.params,
                    do_fit=ctx.do_fit,
                )
            except _runtime.Failure as f:
                raise _err(f)
            return types.Summary(s.total, s.success, s.error, s.message)

    class Serve(exports.Serve):
        def init_svc(self, ctx):
            _activate()
            try:
                state["service"] = _runtime.Service(
                    user,
                    meta=ctx.meta,
                    rule_no=ctx.rule.rule_no,
                    columns=_columns(ctx.rule),
                    params=ctx.rule.params,
                )
            except _runtime.Failure as f:
                raise _err(f)

        def transform(self, batch, batch_id):
            _activate()
            service = state["service"]
            if service is None:
                raise _err(_runtime.Failure("other", "transform was called before init-svc succeeded"))
            try:
                content_type, data = service.transform(batch.content_type, batch.data, batch_id)
            except _runtime.Failure as f:
                raise _err(f)
            return types.Batch(content_type, data)

    return Train, Serve
