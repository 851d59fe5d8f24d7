// Builds handler.js into a Sluice component with ComponentizeJS's API:
//   node build.mjs [OUTPUT]   (default: ../../target/functions/js-order-total.wasm)
//
// The API is used instead of `jco componentize` so that the componentizer is exactly the
// pinned @bytecodealliance/componentize-js (jco 1.35.0 brings its own 0.22 copy).
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, '../../target/functions/js-order-total.wasm'));

const { component, imports } = await componentize({
  sourcePath: resolve(here, 'handler.js'),
  witPath: resolve(here, '../../wit'),
  worldName: 'handler',
  // The host links WASI 0.2 without wasi:http, so leave out fetch() and the fetch event.
  // stdio stays: console output and uncaught errors go to the host's log. Clocks and random
  // are provided by the host.
  disableFeatures: ['http', 'fetch-event'],
});

await mkdir(dirname(out), { recursive: true });
// Write-then-rename: a watching `sluice up` never loads half a file.
await writeFile(`${out}.tmp`, component);
await rename(`${out}.tmp`, out);
console.log(`==> built ${out} (${component.byteLength} bytes); imports used: ${imports.map(([m, f]) => `${m}#${f}`).join(', ')}`);
