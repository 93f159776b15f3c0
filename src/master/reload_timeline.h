// reload_timeline: what happened during one reload, moment by moment, for the
// picture `./server reload --timeline FILE.svg` draws (cli/timeline_svg.h).
//
// The reload writes a lane per step as it goes (when it sent SIGQUIT, when the
// old worker exited, when the new one was forked and became READY); the
// master completes the lanes of workers that finish after the reload has
// ended (a rollback's refill, a retired slot) and adds the requests served,
// sampled every few milliseconds from the shared stats table. While a slot
// is being replaced, its old and its new worker's open connections are
// sampled too: a hand-over shows the old count falling as the new one rises.
//
// Times are milliseconds since the reload began (monotonic); -1 means "did not
// happen" (or not yet). The text form, one record per line, is what the
// control socket's `timeline` command sends:
//
//   reload ok=1 start_first=0 generation=3 finished=21 after=500
//   summary reload complete: 2 workers replaced in 21 ms
//   lane slot=web#0 kind=replace old=4101 new=4133 drain=0 exit=3 fork=3 ready=5 failed=-1 handover=-1 handover_end=-1 handover_ok=0 version=hello-3f2a.so
//   rate t=-300 requests=15022
//   conns lane=0 t=2 old=48 new=0
//
// A `conns` line belongs to the lane counted from 0 in the order the lanes
// came. A lane without the handover keys (a master older than them) reads
// as one without a hand-over.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace smooth {

struct ReloadTimeline {
    struct Lane {
        std::string slot;     // "web#0"
        std::string kind;     // replace, add, retire, rollback
        pid_t old_pid = 0;    // 0: none (an added slot)
        pid_t new_pid = 0;    // 0: none (a retired slot, or the fork failed)
        int64_t drain_ms = -1;   // SIGQUIT to the old worker
        int64_t exit_ms = -1;    // the old worker exited
        int64_t fork_ms = -1;    // the new worker was forked
        int64_t ready_ms = -1;   // the new worker sent READY: the slot runs the new version from here
        int64_t failed_ms = -1;  // the new worker died or was given up on before READY
        // reloadable = handover: 'H' to the old worker (it hands every client
        // connection to the new one), and its word on how that went.
        int64_t handover_ms = -1;
        int64_t handover_end_ms = -1;
        bool handover_ok = false;  // handed over; or it failed, and the old worker served on
        std::string version;       // what the new worker loads (file name only)
        // Each worker's open connections at one moment; -1: that worker was
        // not there (not forked yet, or exited).
        struct Connections {
            int64_t t_ms;
            int32_t old_count;
            int32_t new_count;
        };
        std::vector<Connections> connections;  // while the slot was being replaced, in time order
    };
    struct Sample {
        int64_t t_ms;       // since the reload began (negative: the lead-in)
        uint64_t requests;  // served so far by every worker, living or gone
    };

    bool ok = false;
    bool start_first = false;
    uint64_t generation = 0;
    int64_t finished_ms = 0;  // when the reload ended
    int64_t after_ms = 0;     // samples go on this long after the end
    std::string summary;
    std::vector<Lane> lanes;
    std::vector<Sample> rate;

    Lane* lane_of_new(pid_t pid);  // the lane whose new worker is pid
    Lane* lane_of_old(pid_t pid);

    std::string to_text() const;
    // The text form back, into `out`: "" or the line that does not parse (core/error.h).
    static std::string from_text(const std::string& text, ReloadTimeline& out);
};

}  // namespace smooth
