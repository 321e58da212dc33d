// asc transform, run after compilation and before asc's optimizer: keep the
// M:N engine's switch function and the coroutine's bottom frame out of line.
// If the optimizer inlined sched_switch into its callers (or cpu_entry into
// coroutine_run, assembly/coroutine.ts), Asyncify would take those callers for "runtime" code (they would
// contain the asyncify.* calls) and leave them uninstrumented: a switch would
// then corrupt them silently (Binaryen's Asyncify docs: functions that call the
// unwind imports are treated as runtime and are not instrumented).
export default class NoInline {
  afterCompile(module) {
    const b = this.binaryen;
    for (const pat of ['*sched_switch', '*cpu_entry']) {
      b.setPassArgument('no-inline', pat);
      module.runPasses(['no-inline']);
    }
    b.clearPassArguments();
  }
}
