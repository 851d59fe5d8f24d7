"""`py-order-total`: totals a placed order, in Python.

The Python twin of the Rust `functions/order-total`: it handles events carrying an order
(`{"id":"o-1","customer":"c-1","items":[{"sku":"A","qty":2,"price":1999}]}`, prices in
cents) and publishes `{"order_id","customer","total","item_count"}` to `orders.totalled`
with `content-type: application/json`.

Input that can never be totalled (not UTF-8, not JSON, a missing or mistyped field, no
items, a negative or non-integer number, a sum past 2^64 - 1) is a permanent error, so the
event goes straight to the dead-letter subject instead of being retried. The limits match
the Rust function's `u64` fields exactly.

componentize-py maps the `handler` world like this:
- the world's exported function `handle` is a method of a class named `WitWorld` in this
  module (the world's own exports live on `WitWorld`; exported interfaces would get their
  own classes);
- `result<_, error>`: returning means `ok`; raising `Err(value)` means `err(value)`;
- the variant `failure` is the union `Failure_Retryable(RetryableError(...)) | Failure_Permanent(str)`;
- an imported function returning `result<_, string>` (`publish`) raises `Err(message)`;
- `option<string>` is `Optional[str]`, `list<u8>` is `bytes`.
An exception other than `Err` escaping `handle` traps the instance, which the host treats
as retryable.
"""

import json
from typing import Any, NoReturn

from componentize_py_types import Err
from wit_world import WitWorld as _World
from wit_world.imports import log as sluice_log
from wit_world.imports import publisher
from wit_world.imports.types import Event, Failure_Permanent

TOTALLED_SUBJECT = "orders.totalled"
U64_MAX = 2**64 - 1


class InvalidOrder(Exception):
    """The payload is not an order; the message says where and why."""


def permanent(message: str) -> NoReturn:
    """Fails the event for good: it goes to the dead-letter subject with `message`."""
    raise Err(Failure_Permanent(message))


def _reject_duplicates(pairs: list) -> dict:
    # Like serde: a repeated key is an error rather than "last one wins".
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidOrder(f"duplicate field `{key}`")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise InvalidOrder(f"{name} is not valid JSON")


def _show(value: Any) -> str:
    """`value` as JSON, cut short so a huge payload does not end up in the message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise InvalidOrder(f"{where}: missing field `{key}`")
    return obj[key]


def _string(obj: dict, key: str, where: str) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise InvalidOrder(f"{where}.{key}: expected a string, got {_show(value)}")
    return value


def _u64(obj: dict, key: str, where: str) -> int:
    value = _field(obj, key, where)
    # bool is a subclass of int in Python; JSON `true` is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise InvalidOrder(
            f"{where}.{key}: expected an integer from 0 to {U64_MAX}, got {_show(value)}"
        )
    return value


def parse_order(payload: bytes) -> dict:
    """Parses and validates an order; raises `InvalidOrder` saying what is wrong."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidOrder(f"not UTF-8: {e}") from None
    try:
        order = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as e:
        raise InvalidOrder(str(e)) from None
    if not isinstance(order, dict):
        raise InvalidOrder(f"expected an object, got {_show(order)}")
    items = _field(order, "items", "order")
    if not isinstance(items, list):
        raise InvalidOrder(f"order.items: expected an array, got {_show(items)}")
    lines = []
    for index, item in enumerate(items):
        where = f"order.items[{index}]"
        if not isinstance(item, dict):
            raise InvalidOrder(f"{where}: expected an object, got {_show(item)}")
        lines.append(
            {
                "sku": _string(item, "sku", where),
                "qty": _u64(item, "qty", where),
                "price": _u64(item, "price", where),
            }
        )
    return {
        "id": _string(order, "id", "order"),
        "customer": _string(order, "customer", "order"),
        "items": lines,
    }


def total(order: dict) -> dict:
    """Totals `order`; fails permanently when it has no items or a sum overflows a u64."""
    if not order["items"]:
        permanent(f"order {order['id']} has no items")
    total = 0
    item_count = 0
    for item in order["items"]:
        total += item["qty"] * item["price"]
        item_count += item["qty"]
        if total > U64_MAX or item_count > U64_MAX:
            permanent(
                f"order {order['id']}: total overflows at sku {item['sku']} "
                f"(qty {item['qty']}, price {item['price']})"
            )
    return {
        "order_id": order["id"],
        "customer": order["customer"],
        "total": total,
        "item_count": item_count,
    }


class WitWorld(_World):
    """The `handler` world: componentize-py calls `handle` once per event."""

    def handle(self, event: Event) -> None:
        try:
            order = parse_order(event.payload)
        except InvalidOrder as e:
            permanent(
                f"payload of event {event.id} on {event.subject} is not a valid order: {e}"
            )
        totalled = total(order)
        sluice_log.log(
            sluice_log.Level.INFO,
            f"order {totalled['order_id']} totals {totalled['total']}",
        )
        payload = json.dumps(totalled, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            publisher.publish(
                TOTALLED_SUBJECT, payload, [("content-type", "application/json")]
            )
        except Err as e:
            # The host refused (a subject outside `permissions.publish`, the outbox full):
            # the same event would be refused again.
            permanent(str(e.value))
