// timeline_svg: a reload drawn as a picture (`./server reload --timeline FILE.svg`).
//
//   web#0  ████████████▒▒▒▒┆                          old worker, its drain (▒)
//                          ┆░░▐██████████████████     new worker: starting (░), READY (▐), serving
//   web#1  ██████████████████████▒▒▒┆
//                                   ┆░▐████████
//   gw#0   ██████████████████▓▒┆                   a hand-over (▓): 'H' to the old worker's word
//              ░░░░░▐███████████████████████████
//          ‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾\___                   the old worker's connections...
//          __________________/‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾   ...and the new one's, at the same moment
//   req/s  ‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾‾   the rate served through it all
//
// One lane per step of the reload (a worker slot); a failed replacement ends
// in red where it gave up, and the rollback that followed gets a lane of its
// own. A lane whose workers had connections open shows both counts under its
// bars, scaled to the lane's peak; the samples are in the file too (each
// line's data-counts, "t:count ..."), and a hand-over's span is a rect of
// class "handover" with its times in data-from and data-to.
// Pure: a ReloadTimeline in, the text of a standalone SVG document out.
#pragma once

#include <string>

#include "master/reload_timeline.h"

namespace smooth {

std::string timeline_svg(const ReloadTimeline& timeline);

}  // namespace smooth
