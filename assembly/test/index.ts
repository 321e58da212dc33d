// The exported ABI of the TEST build of the core: the released ABI
// (../index.ts) plus the t_* loops tests and micro-benchmarks drive, and their
// call table. Built with --use FAULTLINE_TEST_BUILD=1 (../build_flags.ts), which
// also compiles in the test controls on hot paths. Never loaded by a run unless it
// asks for test flags, planted bugs or t_* calls (src/wasm.ts, Variant 'test').
export * from '../index';
export * from './ops';
export * from './ops_mm';
export * from './ops_vma';
export * from './ops_fault';
import { sched_set_call_table } from '../coroutine';
import { dispatch_test_call } from './calls';
import { NCALLS } from '../calls';

// after ../index.ts installed the released table (its top level runs first)
sched_set_call_table(dispatch_test_call, NCALLS);
