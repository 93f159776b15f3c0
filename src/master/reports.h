// reports: who listens to a running master, and what each tells whom:
//
//   SystemdStatus      systemd's READY, RELOADING, STOPPING and STATUS lines (systemd_status.h)
//   TimelineRecorder   the reload's timeline, for `./server reload --timeline` (timeline_recorder.h)
//   MetricsRecorder    reloads, upgrades, restarts and durations for the metrics (metrics_recorder.h)
//
// The master and its reload do not know them (core/listeners.h): each
// subscribes to the events of the master's parts, and the timeline adds its
// two commands to the control socket.
#pragma once

#include "master/metrics_recorder.h"
#include "master/systemd_status.h"
#include "master/timeline_recorder.h"

namespace smooth {

class Master;

class Reports {
public:
    explicit Reports(Master& master);

private:
    void answer_timeline_commands(Master& master);

    SystemdStatus systemd_;
    TimelineRecorder timeline_;
    MetricsRecorder metrics_;
};

}  // namespace smooth
