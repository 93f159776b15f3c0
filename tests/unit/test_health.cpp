// test_health: the worker's own answer to a health check (worker/health.h),
// as a table: configured path, request path, draining or not (build "b7").
#include "worker/health.h"

#include "check.h"

#include <string>

using namespace smooth;

namespace {

void test_table() {
    struct Row {
        const char* health_path;
        const char* request_path;
        bool draining;
        int status;  // 0: not a health check, the module gets it
        const char* body;
        bool close;
    };
    const Row rows[] = {
        {"/healthz", "/healthz", false, 200, "ok build b7\n", false},
        {"/healthz", "/healthz", true, 503, "draining build b7\n", true},
        {"/healthz", "/", false, 0, "", false},
        {"/healthz", "/healthz/", false, 0, "", false},       // exact: a prefix is not enough
        {"/healthz", "/HEALTHZ", false, 0, "", false},        // paths are case-sensitive
        {"/healthz", "/health", true, 0, "", false},          // draining changes nothing for other paths
        {"", "/healthz", false, 0, "", false},                // no health_path: every request is the module's
        {"", "", true, 0, "", false},
        {"/", "/", true, 503, "draining build b7\n", true},
    };
    for (const Row& r : rows) {
        std::string at = std::string(r.health_path) + " vs " + r.request_path + (r.draining ? " (draining)" : "");
        std::optional<HealthAnswer> a = health_answer(r.health_path, r.request_path, r.draining, "b7");
        EXPECT_EQ_AT(a ? a->status : 0, r.status, at);
        if (!a) continue;
        EXPECT_EQ_AT(std::string(a->body), std::string(r.body), at);
        EXPECT_EQ_AT(a->close, r.close, at);
    }
}

}  // namespace

int main() {
    test_table();
    return check::summary("health");
}
