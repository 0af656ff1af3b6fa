"""The template's Lambda functions as in-process callables, invoked the way Lambda does."""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from pipeline.asl import TaskFailed
from pipeline.asl.execution import lambda_style_error
from pipeline.local.lambda_context import LambdaContext
from pipeline.template import Template

FUNCTION = "AWS::Serverless::Function"


def handler_of(template: Template, function_id: str) -> Callable[[Any, Any], Any]:
    """Import the handler the template names for ``function_id`` (``module.attribute``)."""
    path = template.properties(function_id).get("Handler") or template.globals.get(
        "Function", {}
    ).get("Handler")
    module, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def invoke(
    template: Template,
    function_id: str,
    payload: Any,
    handler: Callable[[Any, Any], Any] | None = None,
) -> Any:
    """Call a function in-process; an exception becomes the error Step Functions would see.
    ``handler`` is the template's unless given (:class:`LocalFunctions` passes its own)."""
    props = template.properties(function_id)
    timeout = float(props.get("Timeout", template.globals.get("Function", {}).get("Timeout", 30)))
    return call(handler or handler_of(template, function_id), payload, function_id, timeout)


def call(
    handler: Callable[[Any, Any], Any],
    payload: Any,
    function_name: str,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Run ``handler`` as Lambda would: with a context whose remaining time counts down from
    the function's timeout, an unhandled exception reported as ``{errorType, errorMessage}``,
    and a run longer than the timeout reported as ``Sandbox.Timedout``. A thread cannot be
    killed, so an overrun is noticed when the handler returns; whatever it wrote meanwhile
    stays written, as it does when Lambda stops a function mid-way."""
    context = LambdaContext(function_name=function_name, timeout_seconds=timeout_s)
    started = clock()
    try:
        result = handler(payload, context)
    except Exception as error:  # Lambda reports any unhandled exception as the task's error
        raise lambda_style_error(error) from error
    elapsed = clock() - started
    if elapsed > timeout_s:
        message = f"Task timed out after {timeout_s:.2f} seconds"
        cause = {"errorMessage": message, "errorType": "Sandbox.Timedout"}
        raise TaskFailed("Sandbox.Timedout", json.dumps(cause))
    return result


# The settings Lambda's runtime gives every function of the stack: region and credentials
# (fake, for the local cloud). An endpoint is added when the transport is HTTP.
RUNTIME_VARIABLES = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}


class LocalFunctions:
    """The template's functions as the Lambda service holds them: each with the environment
    deployed for it (its own variables, nothing of another function's, never ``os.environ``),
    its handler's dependencies built once from that environment, as a container does.

    ``environments`` maps a function's logical id to its variables; ``builders`` replaces how
    a function's dependencies are built (the local runtime gives the shipping function its
    clock, the audit forwarder its local Firehose). Handler modules keep their dependencies in
    a :class:`~pipeline.handlers.wiring.Wiring`; :meth:`close` resets them.
    """

    def __init__(
        self,
        template: Template,
        environments: Mapping[str, Mapping[str, str]],
        builders: Mapping[str, Callable[[Mapping[str, str]], Any]] | None = None,
    ) -> None:
        self.template = template
        self.environments = {name: dict(env) for name, env in environments.items()}
        self.builders = dict(builders or {})
        self._deps: dict[str, Any] = {}
        self._modules: dict[str, ModuleType] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}

    def environment(self, function_id: str) -> Mapping[str, str]:
        """The variables ``function_id`` runs with."""
        return self.environments[function_id]

    def deps(self, function_id: str) -> Any:
        """The dependencies ``function_id``'s handler runs with (built on first use)."""
        if function_id not in self._deps:
            env = self.environments[function_id]
            module = self._module(function_id)
            build = self.builders.get(function_id) or module.wiring.build
            self._deps[function_id] = build(env)
            _configure_powertools(module, env)
        return self._deps[function_id]

    def handler(self, function_id: str) -> Callable[[Any, Any], Any]:
        """``function_id``'s handler, called with its own dependencies (for the local API)."""
        if function_id not in self._handlers:
            target = handler_of(self.template, function_id)
            module = self._module(function_id)

            def run(event: Any, context: Any) -> Any:
                module.wiring.configure(self.deps(function_id))
                return target(event, context)

            self._handlers[function_id] = run
        return self._handlers[function_id]

    def invoke(self, function_id: str, payload: Any) -> Any:
        """Invoke ``function_id`` as Lambda does (see :func:`invoke`), with its own deps."""
        return invoke(self.template, function_id, payload, self.handler(function_id))

    def close(self) -> None:
        """Forget every function's dependencies (handlers build theirs again when next used)."""
        for module in self._modules.values():
            module.wiring.configure(None)
        self._deps.clear()

    def _module(self, function_id: str) -> ModuleType:
        if function_id not in self._modules:
            module = sys.modules[handler_of(self.template, function_id).__module__]
            if not hasattr(module, "wiring"):
                raise TypeError(f"{module.__name__} keeps no Wiring: cannot give it its deps")
            self._modules[function_id] = module
        return self._modules[function_id]


def _configure_powertools(module: ModuleType, env: Mapping[str, str]) -> None:
    """What powertools reads from the environment when a module is imported in Lambda (after
    its environment is set), applied to the module's ``metrics`` and ``logger`` here, where
    the module was imported before: the metrics namespace and the log level."""
    metrics = getattr(module, "metrics", None)
    namespace = env.get("POWERTOOLS_METRICS_NAMESPACE")
    if metrics is not None and namespace:
        metrics.namespace = namespace
    logger = getattr(module, "logger", None)
    level = env.get("POWERTOOLS_LOG_LEVEL") or env.get("LOG_LEVEL")
    if logger is not None and level:
        logger.setLevel(level)
