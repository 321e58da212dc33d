// faultline for browsers (package "exports" condition "browser"): the same API
// (src/api.ts) on the browser platform: the core fetched and compiled by init(),
// CPUs on Web Workers. Needs a cross-origin-isolated page (COOP/COEP headers:
// `faultline serve` sets them) for the shared memory. Call the API from a
// dedicated Worker: browsers refuse to compile a large Wasm module synchronously
// on the main thread (the web page runs its sweeps in web/runner.ts).
import './browser/platform.js';

export * from './api.js';
