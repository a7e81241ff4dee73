"""Every boto3 call a handler can make, read from the code in ``lambdas/`` (no import, no execution).

From a handler module, the functions it defines are followed through what they name: functions and classes of
``lambdas/`` (imported by ``from x import y`` or ``import x`` / ``x.y``), ``self.method``, and the functions
nested in them (a class named is taken with all its methods). In each function reached, a boto3 call is a
method called on a client: ``aws.client("s3").get_object(...)``, or on a name bound to an expression that makes
a client (``bedrock = aws.client("bedrock")``, ``s3 = client if client else aws.client("s3")``), a
``get_paginator("op")``, or ``getattr(client, op)``. An operation passed in as a parameter (``_pages(op, ...)``)
is taken from the string literals the reached callers pass for it.

Over-approximation is on purpose: a function is "reached" when a reached function names it, whether or not
that branch runs. The result says which calls each handler's function may make."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import botocore.session
from botocore import xform_name

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"


@dataclass(frozen=True)
class Call:
    service: str  # the boto3 service name: "s3", "bedrock-runtime", "stepfunctions"...
    operation: str  # botocore's operation name: "GetObject"
    where: str  # module:line
    keywords: frozenset[str] = frozenset()
    star_kwargs: bool = False
    # Inside a try whose handlers catch ResourceMissingError but not AwsRequestRejectedError: the code tells
    # a missing object (404) from a forbidden one (403).
    tells_missing: bool = False


@dataclass
class _Function:
    module: str
    name: str  # qualified inside the module: "f", "Class.method"
    node: ast.FunctionDef | ast.AsyncFunctionDef
    params: list[str] = field(default_factory=list)


@dataclass
class _Module:
    name: str
    tree: ast.Module
    functions: dict[str, _Function] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)  # class -> its methods' qualified names
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, attribute)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LAMBDAS).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _read_definitions(module: _Module) -> None:
    for node in module.tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            module.functions[node.name] = _Function(module.name, node.name, node, [a.arg for a in node.args.args])
        elif isinstance(node, ast.ClassDef):
            methods = []
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    qualified = f"{node.name}.{item.name}"
                    module.functions[qualified] = _Function(
                        module.name, qualified, item, [a.arg for a in item.args.args]
                    )
                    methods.append(qualified)
            module.classes[node.name] = methods


def _read_imports(module: _Module, package: str) -> None:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            for alias in node.names:
                module.imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                module.imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)


@functools.cache
def _modules() -> dict[str, _Module]:
    modules: dict[str, _Module] = {}
    for path in sorted(LAMBDAS.rglob("*.py")):
        name = _module_name(path)
        module = _Module(name, ast.parse(path.read_text(), filename=str(path)))
        _read_definitions(module)
        _read_imports(module, name if path.name == "__init__.py" else name.rpartition(".")[0])
        modules[name] = module
    return modules


def _resolve(module_name: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()) -> list[tuple[str, str]]:
    """The functions (module, qualified name) that ``name`` in ``module_name`` stands for."""
    modules = _modules()
    module = modules.get(module_name)
    found: list[tuple[str, str]] = []
    if module is None or (module_name, name) in seen:
        pass
    elif name in module.functions:
        found = [(module_name, name)]
    elif name in module.classes:
        found = [(module_name, m) for m in module.classes[name]]
    elif name in module.imports:
        target, attribute = module.imports[name]
        # ``from package import module`` names a module, not a function.
        if attribute is not None and f"{target}.{attribute}" not in modules:
            found = _resolve(target, attribute, seen | {(module_name, name)})
    return found


def _module_alias(module_name: str, name: str) -> str | None:
    """The lambdas/ module a local name stands for (``import x`` or ``from pkg import module``)."""
    modules = _modules()
    target = modules[module_name].imports.get(name)
    if target is None:
        return None
    base, attribute = target
    candidate = base if attribute is None else f"{base}.{attribute}"
    return candidate if candidate in modules else None


def _client_service(node: ast.AST) -> str | None:
    """The service of the client an expression evaluates to: ``<anything>.client("svc", ...)``, or either
    branch of ``a if c else b`` / ``a or b``."""
    if isinstance(node, ast.IfExp):
        return _client_service(node.body) or _client_service(node.orelse)
    if isinstance(node, ast.BoolOp):
        return next((s for s in map(_client_service, node.values) if s), None)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> botocore operation name."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


_MISSING, _REJECTED = "ResourceMissingError", "AwsRequestRejectedError"
_NOT_OPERATIONS = frozenset({"paginate", "exceptions", "meta", "can_paginate", "close", "get_waiter"})


def _handler_names(handlers: list[ast.ExceptHandler]) -> set[str]:
    names: set[str] = set()
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in kinds:
            if isinstance(kind, ast.Name):
                names.add(kind.id)
            elif isinstance(kind, ast.Attribute):
                names.add(kind.attr)
    return names


@dataclass
class _Scan:
    calls: list[Call] = field(default_factory=list)
    dynamic: list[tuple[str, int, str]] = field(default_factory=list)  # (service, parameter index, where)
    references: set[tuple[str, str]] = field(default_factory=set)
    call_sites: list[tuple[list[tuple[str, str]], ast.Call]] = field(default_factory=list)


class _Scanner:
    """One function's boto3 calls, dynamic operations, references and call sites."""

    def __init__(self, function: _Function) -> None:
        self.function = function
        self.module = function.module
        self.class_name = function.name.split(".")[0] if "." in function.name else None
        self.scan = _Scan()
        self.clients: dict[str, str] = {}
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(function.node):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                service = _client_service(node.value)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if service and isinstance(target, ast.Name):
                        self.clients[target.id] = service

    def run(self) -> _Scan:
        for node in ast.walk(self.function.node):
            if isinstance(node, ast.Call):
                self._call(node)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self.scan.references.update(_resolve(self.module, node.id))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                self._attribute(node.value.id, node.attr)
        return self.scan

    def _attribute(self, owner: str, attribute: str) -> None:
        if owner in ("self", "cls") and self.class_name:
            qualified = f"{self.class_name}.{attribute}"
            if qualified in _modules()[self.module].functions:
                self.scan.references.add((self.module, qualified))
        elif (alias := _module_alias(self.module, owner)) is not None:
            self.scan.references.update(_resolve(alias, attribute))

    def _tells_missing(self, node: ast.AST) -> bool:
        current = node
        while current in self.parents:
            parent = self.parents[current]
            if isinstance(parent, ast.Try) and current in parent.body:
                names = _handler_names(parent.handlers)
                if _MISSING in names:
                    return _REJECTED not in names
            current = parent
        return False

    def _service_of(self, value: ast.AST) -> str | None:
        if isinstance(value, ast.Name):
            return self.clients.get(value.id)
        return _client_service(value)

    def _call(self, node: ast.Call) -> None:
        where = f"{self.module}:{node.lineno}"
        func = node.func
        if isinstance(func, ast.Attribute) and (service := self._service_of(func.value)) is not None:
            self._client_call(node, service, func.attr, where)
        elif isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            service = self._service_of(node.args[0])
            if service:
                self._operation_argument(node.args[1], service, where)
        targets = _callee(self.module, self.class_name, func)
        if targets:
            self.scan.call_sites.append((targets, node))

    def _operation_argument(self, argument: ast.AST, service: str, where: str) -> None:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            self.scan.calls.append(Call(service, _operations(service)[argument.value], where))
        elif isinstance(argument, ast.Name) and argument.id in self.function.params:
            self.scan.dynamic.append((service, self.function.params.index(argument.id), where))

    def _client_call(self, node: ast.Call, service: str, method: str, where: str) -> None:
        if method == "get_paginator":
            self._operation_argument(node.args[0], service, where)
            return
        if method in _NOT_OPERATIONS:
            return
        operation = _operations(service).get(method)
        if operation is None:
            raise LookupError(f"{where}: {service} has no operation {method}")
        keywords = {k.arg for k in node.keywords if k.arg}
        star = False
        for keyword in node.keywords:
            if keyword.arg is None:
                spread = _spread_keys(self.function.node, keyword.value)
                keywords |= spread or set()
                star = star or spread is None
        self.scan.calls.append(Call(service, operation, where, frozenset(keywords), star, self._tells_missing(node)))


def _dict_keys(node: ast.AST) -> set[str] | None:
    """The constant keys of a dict literal (either branch of ``a if c else b``); None when not one."""
    if isinstance(node, ast.IfExp):
        body, orelse = _dict_keys(node.body), _dict_keys(node.orelse)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.Dict):
        keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        return keys if all(isinstance(k, ast.Constant) for k in node.keys) else None
    return None


def _spread_keys(function: ast.AST, value: ast.AST) -> set[str] | None:
    """The keys ``**value`` can pass: of a dict literal, or of a local dict built from literals (``d = {...}``,
    ``d |= {...}``, ``d["k"] = ...``). None when they cannot be read."""
    if not isinstance(value, ast.Name):
        return _dict_keys(value)
    keys: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == value.id:
                    found = _dict_keys(node.value)
                    if found is None:
                        return None
                    keys |= found
                elif (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == value.id
                    and isinstance(target.slice, ast.Constant)
                ):
                    keys.add(str(target.slice.value))
    return keys


def _callee(module: str, class_name: str | None, func: ast.AST) -> list[tuple[str, str]]:
    if isinstance(func, ast.Name):
        return _resolve(module, func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id in ("self", "cls") and class_name:
            return [(module, f"{class_name}.{func.attr}")]
        alias = _module_alias(module, func.value.id)
        if alias is not None:
            return _resolve(alias, func.attr)
    return []


@functools.cache
def _scanned(module: str, name: str) -> _Scan:
    return _Scanner(_modules()[module].functions[name]).run()


def reached(handler_module: str) -> set[tuple[str, str]]:
    """The functions a handler module's function can reach."""
    start = f"handlers.{handler_module}"
    modules = _modules()
    todo = [(start, name) for name in modules[start].functions]
    # What the module's own top-level statements name (decorators, module-level objects).
    for node in modules[start].tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name):
                    todo.extend(_resolve(start, inner.id))
    seen: set[tuple[str, str]] = set()
    while todo:
        current = todo.pop()
        if current in seen or current[1] not in modules[current[0]].functions:
            continue
        seen.add(current)
        todo.extend(_scanned(*current).references)
    return seen


def calls_of(handler_module: str) -> list[Call]:
    """Every boto3 call the function of ``handlers.<handler_module>`` can make."""
    functions = reached(handler_module)
    calls: list[Call] = []
    for key in sorted(functions):
        scan = _scanned(*key)
        calls.extend(scan.calls)
        for service, index, where in scan.dynamic:
            calls.extend(_dynamic_calls(key, service, index, where, functions))
    return calls


def _dynamic_calls(
    target: tuple[str, str], service: str, index: int, where: str, functions: set[tuple[str, str]]
) -> Iterator[Call]:
    found = False
    for key in sorted(functions):
        for targets, node in _scanned(*key).call_sites:
            if target in targets and len(node.args) > index:
                argument = node.args[index]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    method = argument.value
                    operation = _operations(service).get(method)
                    if operation is None:
                        raise LookupError(f"{key[0]}:{node.lineno}: {service} has no operation {method}")
                    found = True
                    yield Call(service, operation, f"{key[0]}:{node.lineno}")
    if not found:
        raise LookupError(f"{where}: the {service} operation is a parameter no reached caller names")


def uses_powertools_idempotency(handler_module: str) -> bool:
    """The handler keeps Powertools idempotency records in DynamoDB (DynamoDBPersistenceLayer)."""
    imports = _modules()[f"handlers.{handler_module}"].imports
    return any(attribute == "DynamoDBPersistenceLayer" for _, attribute in imports.values())


def handler_modules() -> list[str]:
    return sorted(
        name.removeprefix("handlers.")
        for name in _modules()
        if name.startswith("handlers.") and name not in ("handlers", "handlers.observability")
    )
