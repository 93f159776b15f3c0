// broken: a module whose on_worker_start fails, like a deploy that cannot
// start (a missing config file, a database it cannot reach). Reloading onto it
// must be refused: the reload aborts and the previous version keeps serving.
#include "smooth/module.h"

namespace {

int on_worker_start(smooth_worker* w) {
    smooth_log(w, "broken: on_worker_start refuses to start (this module exists to test a failed deploy)");
    return -1;
}

}  // namespace

SMOOTH_MODULE(broken) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "broken", "1", on_worker_start, nullptr, nullptr, nullptr, nullptr, nullptr,
    };
    return &m;
}
