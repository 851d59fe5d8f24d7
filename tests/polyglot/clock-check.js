// `js-clock-check`: a test handler for `sluice dlq debug` (see tests/integration/dlq_debug.rs).
//
// Fails every event permanently with a message made of the wall clock and random bytes,
// drawn through WASI at handle time: a replay reproduces the message only if it gives back
// the recorded clock reading and random bytes.

export function handle(event) {
  const clock = Date.now();
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  const nonce = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  throw { tag: 'permanent', val: `js event ${event.id} at ${clock} drew ${nonce}` };
}
