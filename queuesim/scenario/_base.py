"""The frozen, typo-rejecting pydantic base every scenario object derives from, and a way to fail with several located errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .limits import MAX_INT

__all__ = ["Frozen", "Int", "Float", "refuse_bool", "Loc", "Violation", "MODEL_RULE", "SCENARIO_RULE", "fail"]

#: A location inside the scenario, as pydantic writes it: keys and list indices from the root.
Loc = tuple[str | int, ...]
#: A broken cross-field rule: where it is and what is wrong.
Violation = tuple[Loc, str]

#: Error type of a rule between fields of one model (a producer, a retry policy, a distribution).
MODEL_RULE = "model_rule"
#: Error type of a rule across the whole scenario (routing, warmup); these only run once every field is valid.
SCENARIO_RULE = "scenario_rule"


def _not_bool(kind: str) -> Any:
    def check(value: Any) -> Any:
        # pydantic's lax mode reads true as 1; in YAML `count: yes` is a slip, not one worker.
        if isinstance(value, bool):
            raise PydanticCustomError(kind, "{reason}", {"reason": f"must be a number, got {str(value).lower()}"})
        return value

    return check


def _within_int64(value: int) -> int:
    # Python ints are unbounded; numpy columns and SeedSequence are not.
    if not -MAX_INT <= value <= MAX_INT:
        raise PydanticCustomError("int_range", "{reason}", {"reason": f"must be between -(2⁶³−1) and 2⁶³−1, got a {value.bit_length()}-bit number"})
    return value


#: An int that refuses booleans and anything beyond a signed 64-bit integer.
Int = Annotated[int, BeforeValidator(_not_bool("int_type")), AfterValidator(_within_int64)]
#: A float that refuses booleans.
Float = Annotated[float, BeforeValidator(_not_bool("float_type"))]


class Frozen(BaseModel):
    """Base model: unknown keys are errors (a typo must never be silently ignored) and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def fail(title: str, violations: Sequence[Violation], values: object = None, kind: str = MODEL_RULE) -> None:
    """Raise one ValidationError carrying every violation at its own location.

    Parameters
    ----------
    title : str
        The model name, as pydantic uses in its error title.
    violations : sequence of (loc, message)
        Locations are relative to the model being validated; pydantic prefixes the model's own
        location when this is raised inside a validator.
    values : object, optional
        The input reported for each error.
    kind : str, default MODEL_RULE
        The pydantic error type, ``MODEL_RULE`` or ``SCENARIO_RULE``.

    Raises
    ------
    pydantic.ValidationError
        Always, if ``violations`` is non-empty; otherwise returns.
    """
    if not violations:
        return
    details = [
        InitErrorDetails(
            type=PydanticCustomError(kind, "{message}", {"message": message}),
            loc=loc,
            input=values,
        )
        for loc, message in violations
    ]
    raise ValidationError.from_exception_data(title, details)


#: The check :data:`Int` and :data:`Float` run first, for fields that need their own constraints in a union.
refuse_bool = _not_bool
