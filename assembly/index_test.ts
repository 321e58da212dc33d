// The exported ABI of the TEST build of the core: the released ABI
// (index.ts) plus the t_* loops tests and micro-benchmarks drive. Built with
// --use FAULTLINE_TEST_BUILD=1 (build_flags.ts), which also compiles in the
// test controls on hot paths. Never loaded by a run unless it asks for test
// flags, planted bugs or t_* calls (src/wasm.ts, Variant 'test').
export * from './index';
export * from './testops';
export * from './testops_mm';
export * from './testops_vma';
export * from './testops_fault';
