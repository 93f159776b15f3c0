// totals_carry: the counters one master hands the other during a binary
// upgrade, over the upgrade's channel (upgrade.h), so that no counter of
// the metrics (worker/metrics_page.h) goes back when the master changes.
//
// Each master sends what it counted itself (its `own` totals and its rows in
// use: core/stats_totals.h), never what it got from the other; the other
// keeps the latest report as its `peer` totals, which its readers add:
//
//   old master A                                new master B
//   before the fork: A's report ──────────────► read before B forks a worker:
//                                               B's first scrape already counts A's
//   every kCarryEveryMs, both ways, while both serve (A's workers drain after
//   the takeover, and what they serve then is counted here)
//   A's last report, its workers all gone ────► B makes A's counts its own
//                                               (adopt_peer) when A has gone
//   (B gives up: its last report, then A adopts B's)
//
// A report is a few messages, each one packet (core/channel.h), ending with
// "carry end"; the receiver applies it whole, at the end:
//
//   carry group web http plain messages=15201 bytes_in=... http_2xx=15190 ...
//   carry server reloads_complete=3 ...
//   carry hist smooth_reload_duration_seconds 0.1=0 0.25=2 ... count=3 sum=812000
//   carry end
//
// Fields go by name, so masters of two builds understand each other: a name
// the receiver does not know is skipped. At most kTotalsGroups groups a
// report; the rest are dropped. Pure: text in, snapshot out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/stats_totals.h"

namespace smooth {

inline constexpr int64_t kCarryEveryMs = 100;
inline constexpr std::string_view kCarryKind = "carry";

// The messages of one report (each begins "carry ").
std::vector<std::string> carry_messages(const TotalsSnapshot& s);

// Builds reports from their messages; a message that is not a report's is ignored.
class CarryReader {
public:
    // One message (with its "carry " prefix). True when it ended a report:
    // then report() holds it.
    bool feed(std::string_view message);
    const TotalsSnapshot& report() const { return done_; }

private:
    TotalsSnapshot building_;
    TotalsSnapshot done_;
};

}  // namespace smooth
