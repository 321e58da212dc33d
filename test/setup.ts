// Tests import src/*.ts directly (not the package entry): register the Node platform
// (src/platform.ts) the way src/index.ts does.
import '../src/node/platform.js';
