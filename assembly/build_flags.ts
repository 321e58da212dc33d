// Which build of the core this is. scripts/build-wasm.mjs compiles the same
// sources three times:
//   release  (assembly/index.ts)       what a run uses: only what runs
//   observe  (assembly/index.ts,       the release core plus the observability hooks
//            --use FAULTLINE_OBS_BUILD=1)  (obs.ts: lock_stat, the timeline, the flame
//            graph); the host loads it only for a run that asks for one of them
//   test     (assembly/test/index.ts,  --use FAULTLINE_TEST_BUILD=1)
//            adds the t_* loops (assembly/test/) and the test controls on hot
//            paths: header flags (FLAG_NO_LOCK, FLAG_NO_RCU_GRACE,
//            FLAG_SPF_STALL,
//            FLAG_PERVMA_STALL, FLAG_SPF_UFFD_STALL) and the planted bugs of `faultline stress --bug`.
//            It has the observability hooks too (the tests record with them).
// TEST_BUILD and OBS_BUILD are compile-time constants: in the release build every
// `if (TEST_BUILD && ...)` and `if (OBS_BUILD && ...)` is folded away, so no flag
// is even read there and no hook is left on the fault path.

import { HDR_BASE, H_FLAGS } from './layout';

// @ts-ignore: FAULTLINE_TEST_BUILD is defined on the asc command line (or not at all)
export const TEST_BUILD: bool = isDefined(FAULTLINE_TEST_BUILD);
// @ts-ignore: FAULTLINE_OBS_BUILD is defined on the asc command line (or not at all)
export const OBS_BUILD: bool = TEST_BUILD || isDefined(FAULTLINE_OBS_BUILD);

/** the header's test flags (FLAG_*): read only under `if (TEST_BUILD && ...)` */
export function header_flags(): u32 { return atomic.load<u32>(HDR_BASE + H_FLAGS); }
