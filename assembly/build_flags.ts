// Which build of the core this is. scripts/build-wasm.mjs compiles the same
// sources twice:
//   release  (assembly/index.ts)       what a run uses: only what runs
//   test     (assembly/test/index.ts,  --use FAULTLINE_TEST_BUILD=1)
//            adds the t_* loops (assembly/test/) and the test controls on hot
//            paths: header flags (FLAG_NO_LOCK, FLAG_NO_RCU_GRACE,
//            FLAG_SPF_STALL,
//            FLAG_PERVMA_STALL, FLAG_SPF_UFFD_STALL) and the planted bugs of `faultline stress --bug`.
// TEST_BUILD is a compile-time constant: in the release build every
// `if (TEST_BUILD && ...)` is folded away, so no flag is even read there.

import { HDR_BASE, H_FLAGS } from './layout';

// @ts-ignore: FAULTLINE_TEST_BUILD is defined on the asc command line (or not at all)
export const TEST_BUILD: bool = isDefined(FAULTLINE_TEST_BUILD);

/** the header's test flags (FLAG_*): read only under `if (TEST_BUILD && ...)` */
export function header_flags(): u32 { return atomic.load<u32>(HDR_BASE + H_FLAGS); }
