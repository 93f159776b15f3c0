// metrics_page: the answer to a Prometheus scrape, given by the worker
// itself, never by the module (config: metrics_path, http:// and ws:// groups).
//
//   GET /metrics   200, text/plain; version=0.0.4: the whole server, in one page
//
// Any worker of any group answers for all of them: every number comes from
// the shared stats table (core/stats.h), the counters through its seqlock'd
// totals (core/stats_totals.h), so a scrape sees each request exactly once
// whichever worker answers, and no counter goes back when a worker is
// replaced. What the page holds (names after Prometheus' conventions: the
// smooth_ prefix, _total on counters, seconds and bytes; labels: group,
// protocol, state, code, kind, result; never a pid):
//
//   counters    smooth_messages_total, smooth_http_requests_total{code},
//               smooth_received_bytes_total, smooth_sent_bytes_total,
//               smooth_limit_hits_total{kind}, smooth_worker_restarts_total,
//               smooth_reloads_total{result}, smooth_upgrades_total{result}
//   gauges      smooth_workers{state}, smooth_connections{protocol},
//               smooth_gateway_queued_events, smooth_gateway_queued_bytes,
//               smooth_links{state}, smooth_build_info{build_id},
//               smooth_module_info{group,version}
//   histograms  smooth_reload_duration_seconds, smooth_drain_duration_seconds,
//               smooth_drain_connections, smooth_drain_requests
//
// Its cost is bounded: one pass over the rows in use (2 x kMaxWorkers at
// most) and the named groups (kTotalsGroups at most), no allocation per
// connection, no module, no call to the master.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace smooth {

class StatsTable;

// The page, from the table as it is now. `build` is this worker's build id.
// nullopt when the master wrote the totals all through the read (a torn
// read is not served: a counter in it could seem to go back), or when this
// master is being replaced by an upgrade (the new master's workers answer:
// stats_totals.h, scrape_elsewhere): the caller answers 503, and the next
// scrape reads again.
std::optional<std::string> metrics_page(const StatsTable& table, std::string_view build);

}  // namespace smooth
