// build_id: see build_id.h. This file holds nothing else, so a build with
// another id links its own copy of this one object ahead of libsmooth.a, and
// the archive's copy is never pulled in (Makefile: variant).
#include "core/build_id.h"

#ifndef SMOOTH_BUILD_ID
#define SMOOTH_BUILD_ID "dev"
#endif

namespace smooth {

const char* build_id() { return SMOOTH_BUILD_ID; }

#ifndef SMOOTH_HANDOVER_VERSION
#define SMOOTH_HANDOVER_VERSION 1
#endif

uint16_t handover_format() { return SMOOTH_HANDOVER_VERSION; }

}  // namespace smooth
