// health: the answer to a load balancer's health check, given by the worker
// itself, never by the module (config: health_path, http:// and ws:// groups).
//
//   GET /healthz   200 "ok build B\n"         the worker serves
//                  503 "draining build B\n"   the worker drains (SIGQUIT: a reload,
//                                             an upgrade, `stop -g`), with Connection: close
//
// B is the build of ./server the worker runs (core/build_id.h): after a
// binary upgrade a balancer's check, or an operator's curl, sees the new one.
//
// Why the worker and not the module: the one thing a balancer must learn in
// time is that this process is going away, and only the worker knows that.
// A draining worker still answers the requests it is handed (drain.h), so the
// balancer sees 503 on its next check and stops sending here *before* the
// connections close; by the time the port refuses, nothing is sent to it.
//
// Pure: the request's path and the worker's state in, the answer out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace smooth {

struct HealthAnswer {
    int status;
    std::string body;
    bool close;  // the response says Connection: close whatever the request asked
};

// The answer when `request_path` is the group's `health_path` (never when
// that is empty); nullopt for every other request, which goes to the module.
std::optional<HealthAnswer> health_answer(const std::string& health_path, std::string_view request_path, bool draining,
                                          std::string_view build);

}  // namespace smooth
