// faultline for Node: `import { createMachine, runWorkload, sweep } from 'faultline'`.
// Registers the Node platform (fs, piscina worker threads), then the API (src/api.ts)
// and the Node-only helpers that write results to disk.
import './node/platform.js';

export * from './api.js';
export { writeJson, writeCsv, writePlots } from './node/files.js';
