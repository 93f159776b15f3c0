// systemd_status: what systemd hears of this master, and when (the protocol
// itself is systemd_notify.h). A listener: it subscribes to the master's
// parts (core/listeners.h), and none of them knows it is there.
//
//   the master begins          $NOTIFY_SOCKET is opened (without it, nothing is sent)
//   every slot READY           READY=1, once, at the start
//   the start report, a slot   STATUS=starting: N of M workers ready after start_timeout
//   still missing
//   a reload begins            RELOADING=1, MONOTONIC_USEC, STATUS=reloading: 0 of N replaced
//   ...each slot done          STATUS=reloading: K of N replaced
//   ...and ends                READY=1, STATUS=its summary (not when a stop interrupted it)
//   a stop begins              STOPPING=1
//   an upgrade begins          STATUS=upgrading: starting BINARY
//   ...hands over              not a word more: the new master speaks (MAINPID=)
//   ...fails                   STATUS=serving: N workers ready; WHY
//   we took over (the new      MAINPID= and READY=1, in one datagram
//   master of an upgrade)
#pragma once

#include "master/systemd_notify.h"

namespace smooth {

class Master;

class SystemdStatus {
public:
    // Subscribes to `master`'s parts; lives as long as the master runs.
    explicit SystemdStatus(Master& master);
    SystemdStatus(const SystemdStatus&) = delete;
    SystemdStatus& operator=(const SystemdStatus&) = delete;

private:
    void worker_ready();
    std::string serving() const;  // "serving: N workers ready"

    Master& master_;
    SystemdNotify notify_;
    bool told_ready_ = false;      // READY=1 sent for the start
    bool told_reloading_ = false;  // RELOADING=1 sent, READY=1 owed at the reload's end
    int told_replaced_ = 0;        // ...and the last "reloading: K of N replaced" sent
};

}  // namespace smooth
