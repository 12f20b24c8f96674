"""What a completion or an agent execution returns, as plain models.

`Completion` and `Execution` hold the typed result (refs bound to the session or
execution they came from) plus what a footer shows: model, ids, usage, latency.
`parse_result` turns an answer (JSON text or parsed JSON) into that typed result.
Nothing here talks HTTP: the client builds these, and so does the SDK interop,
from the official SDK's own response objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import RequestError, ResponseSchemaError, redact
from .kinds import is_object_id
from .refs import Namespace, bind_all, make_ref


def _bundle(obj: Any, include: Any, exclude: Any) -> dict[str, Any]:
    """Delegate to the display layer; fall back to text so a repr never raises."""
    try:
        from .display import result_bundle  # late: results render themselves (see .importlinter)

        return result_bundle(obj, include, exclude)
    except Exception:
        return {"text/plain": repr(obj)}


def _short(text: str, n: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[: n - 3] + "..."


@dataclass(repr=False)
class Completion:
    """A chat completion. `result` is the typed answer with every ref bound to the session."""

    id: str
    model: str
    session_id: str | None
    text: str
    result: Any
    usage: dict[str, Any] | None
    latency_s: float
    raw: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Completion(id={self.id!r}, model={self.model!r}, session_id={self.session_id!r}, "
            f"text={_short(self.text)!r}, latency_s={self.latency_s:.2f})"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _bundle(self, include, exclude)


@dataclass(repr=False)
class Execution:
    """An agent execution. `result` has every ref bound to the execution."""

    id: str
    name: str
    status: str
    result: Any
    usage: dict[str, Any] | None
    latency_s: float
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_id(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return (
            f"Execution(id={self.id!r}, name={self.name!r}, status={self.status!r}, "
            f"latency_s={self.latency_s:.2f})"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _bundle(self, include, exclude)


def _strip_fences(text: str) -> str:
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()


def refify(value: Any, ns: Namespace | None, client: Any = None, _depth: int = 0) -> Any:
    """Turn every `{"id": "img_..."}` inside parsed JSON into a bound ref object."""
    if _depth > 50:
        return value
    if isinstance(value, dict):
        if set(value) == {"id"} and is_object_id(value["id"]):
            ref = make_ref(value["id"])
            return bind_all(ref, ns, client) if ns else ref
        return {k: refify(v, ns, client, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [refify(v, ns, client, _depth + 1) for v in value]
    return value


def parse_result(answer: Any, schema: Any, ns: Namespace | None, client: Any = None) -> Any:
    """The typed result: a validated model (refs bound) for a model schema, else parsed
    JSON with refs turned into ref objects, else the text itself."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            if isinstance(answer, str):
                result = schema.model_validate_json(_strip_fences(answer))
            else:
                result = schema.model_validate(answer)
        except ValidationError as exc:
            raise ResponseSchemaError(
                f"the answer does not match {schema.__name__}: "
                f"{redact(str(exc).splitlines()[0] if str(exc) else '')}",
                detail=answer,
            ) from None
        return bind_all(result, ns, client) if ns else result
    if isinstance(answer, str):
        try:
            answer = json.loads(_strip_fences(answer))
        except (ValueError, RecursionError):
            return answer
    return refify(answer, ns, client)


def schema_json(schema: Any) -> dict[str, Any] | None:
    """A pydantic model class or a JSON schema dict -> the JSON schema."""
    if schema is None:
        return None
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, dict):
        return schema
    raise RequestError(
        f"schema must be a pydantic model class or a JSON schema dict, not {type(schema).__name__}."
    )


__all__ = ["Completion", "Execution", "parse_result", "refify", "schema_json"]
