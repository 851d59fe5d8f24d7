// `js-order-total`: totals a placed order, in JavaScript.
//
// The JavaScript twin of the Rust `functions/order-total`: it handles events carrying an
// order (`{"id":"o-1","customer":"c-1","items":[{"sku":"A","qty":2,"price":1999}]}`, prices in
// cents) and publishes `{"order_id","customer","total","item_count"}` to `orders.totalled`
// with `content-type: application/json`.
//
// Input that can never be totalled (not UTF-8, not JSON, a missing or mistyped field, no
// items, a negative or non-integer number, a sum too large) is a permanent error, so the
// event goes straight to the dead-letter subject instead of being retried. JavaScript numbers
// are doubles, so quantities, prices and sums must stay within Number.MAX_SAFE_INTEGER
// (2^53 - 1); the Rust function allows up to 2^64 - 1.
//
// How ComponentizeJS maps the `handler` world:
// - the world's exported function `handle` is the module's export `handle`;
// - `result<_, error>`: returning means `ok`; throwing means `err`, with the thrown value as
//   the error;
// - the variant `failure` is `{ tag: 'retryable', val: { message, retryAfterMs } }` or
//   `{ tag: 'permanent', val: message }`;
// - imports are ES modules named `<package>/<interface>@<version>`; an imported function
//   returning `result<_, string>` (`publish`) throws on `err`, with the string as the
//   error's `payload`;
// - record fields are camelCase (`replyTo`), `list<u8>` is a Uint8Array, `option<T>` is the
//   value or `undefined`, an enum case is its name as a string (`'info'`).
// An exception escaping `handle` that is not an `error` value traps the instance, which the
// host treats as retryable.

import { publish } from 'sluice:function/publisher@0.1.0';
import { log } from 'sluice:function/log@0.1.0';

const TOTALLED_SUBJECT = 'orders.totalled';

/** Fails the event for good: it goes to the dead-letter subject with `message`. */
function permanent(message) {
  return { tag: 'permanent', val: message };
}

class InvalidOrder extends Error {}

/** `value` as JSON, cut short so a huge payload does not end up in the message. */
function show(value) {
  const text = JSON.stringify(value);
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

function field(obj, key, where) {
  if (!Object.hasOwn(obj, key)) {
    throw new InvalidOrder(`${where}: missing field \`${key}\``);
  }
  return obj[key];
}

function string(obj, key, where) {
  const value = field(obj, key, where);
  if (typeof value !== 'string') {
    throw new InvalidOrder(`${where}.${key}: expected a string, got ${show(value)}`);
  }
  return value;
}

function whole(obj, key, where) {
  const value = field(obj, key, where);
  if (!Number.isSafeInteger(value) || value < 0) {
    // A number past 2^53 has already lost digits in JSON.parse: say so.
    const got = typeof value === 'number' && Number.isInteger(value) && value > 0
      ? `${value} (as parsed into a double)`
      : show(value);
    throw new InvalidOrder(
      `${where}.${key}: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${got}`,
    );
  }
  return value;
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and validates an order; throws `InvalidOrder` saying what is wrong. */
export function parseOrder(payload) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch (e) {
    throw new InvalidOrder(`not UTF-8: ${e.message}`);
  }
  let order;
  try {
    order = JSON.parse(text);
  } catch (e) {
    throw new InvalidOrder(e.message);
  }
  if (!isObject(order)) {
    throw new InvalidOrder(`expected an object, got ${show(order)}`);
  }
  const items = field(order, 'items', 'order');
  if (!Array.isArray(items)) {
    throw new InvalidOrder(`order.items: expected an array, got ${show(items)}`);
  }
  const lines = items.map((item, index) => {
    const where = `order.items[${index}]`;
    if (!isObject(item)) {
      throw new InvalidOrder(`${where}: expected an object, got ${show(item)}`);
    }
    return {
      sku: string(item, 'sku', where),
      qty: whole(item, 'qty', where),
      price: whole(item, 'price', where),
    };
  });
  return {
    id: string(order, 'id', 'order'),
    customer: string(order, 'customer', 'order'),
    items: lines,
  };
}

/** Totals `order`; throws a permanent error when it has no items or a sum is too large. */
export function total(order) {
  if (order.items.length === 0) {
    throw permanent(`order ${order.id} has no items`);
  }
  let total = 0;
  let itemCount = 0;
  for (const item of order.items) {
    total += item.qty * item.price;
    itemCount += item.qty;
    if (!Number.isSafeInteger(total) || !Number.isSafeInteger(itemCount)) {
      throw permanent(
        `order ${order.id}: total overflows at sku ${item.sku} (qty ${item.qty}, price ${item.price})`,
      );
    }
  }
  return { order_id: order.id, customer: order.customer, total, item_count: itemCount };
}

/** The `handler` world's export: called once per event. */
export function handle(event) {
  let order;
  try {
    order = parseOrder(event.payload);
  } catch (e) {
    if (!(e instanceof InvalidOrder)) throw e;
    throw permanent(
      `payload of event ${event.id} on ${event.subject} is not a valid order: ${e.message}`,
    );
  }
  const totalled = total(order);
  log('info', `order ${totalled.order_id} totals ${totalled.total}`);
  const payload = new TextEncoder().encode(JSON.stringify(totalled));
  try {
    publish(TOTALLED_SUBJECT, payload, [['content-type', 'application/json']]);
  } catch (e) {
    // The host refused (a subject outside `permissions.publish`, the outbox full): the same
    // event would be refused again.
    throw permanent(String(e.payload ?? e.message ?? e));
  }
}
