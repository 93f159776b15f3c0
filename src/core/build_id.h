// build_id: which build of ./server this is, shown by `./server --version`,
// `status` and an upgrade's report ("build dev -> b2"). After a binary upgrade
// it is how an operator sees, from outside, that the new binary runs.
//
// Set when building: `make BUILD_ID=1.4.2` (default "dev"). A second build that
// differs only in its id is one compile and one link away: `make variant`
// (Makefile), which the upgrade tests use.
#pragma once

#include <cstdint>

namespace smooth {

const char* build_id();

// The format in which this binary's gateway workers hand their connections
// over (protocol/handover.h, worker/handover.h). An upgrade to a binary with
// another one is refused before any connection moves. `make variant
// HANDOVER_VERSION=N` makes one, for the test that shows the refusal.
uint16_t handover_format();

}  // namespace smooth
