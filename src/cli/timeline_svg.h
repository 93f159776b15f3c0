// timeline_svg: a reload drawn as a picture (`./server reload --timeline FILE.svg`).
//
//   web#0  ████████████▒▒▒▒┆                          old worker, its drain (▒)
//                          ┆░░▐██████████████████     new worker: starting (░), READY (▐), serving
//   web#1  ██████████████████████▒▒▒┆
//                                   ┆░▐████████
//   req/s  ‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾   the rate served through it all
//
// One lane per step of the reload (a worker slot); a failed replacement ends
// in red where it gave up, and the rollback that followed gets a lane of its
// own. Pure: a ReloadTimeline in, the text of a standalone SVG document out.
#pragma once

#include <string>

#include "master/reload_timeline.h"

namespace smooth {

std::string timeline_svg(const ReloadTimeline& timeline);

}  // namespace smooth
