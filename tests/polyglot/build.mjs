// Builds clock-check.js into target/functions/js-clock-check.wasm with the ComponentizeJS
// that functions/js-order-total pins (its build.sh installs it first).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const componentizeJs = resolve(
  root,
  'functions/js-order-total/node_modules/@bytecodealliance/componentize-js/src/componentize.js',
);
const { componentize } = await import(pathToFileURL(componentizeJs).href);
const out = resolve(root, 'target/functions/js-clock-check.wasm');

const { component } = await componentize({
  sourcePath: resolve(here, 'clock-check.js'),
  witPath: resolve(root, 'wit'),
  worldName: 'handler',
  disableFeatures: ['http', 'fetch-event'],
});
await mkdir(dirname(out), { recursive: true });
await writeFile(`${out}.tmp`, component);
await rename(`${out}.tmp`, out);
console.log(`==> built ${out} (${component.byteLength} bytes)`);
