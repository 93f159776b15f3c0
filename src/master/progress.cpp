// progress: see progress.h.
#include "master/progress.h"

#include <ctime>

#include "core/log.h"

namespace smooth {

std::string tell_the_end(std::vector<Progress>& waiting, bool ok, const std::string& summary) {
    if (ok)
        log::info("%s", summary.c_str());
    else
        log::warn("%s", summary.c_str());
    for (Progress& report : waiting) report(summary, true, ok);
    waiting.clear();
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    char at[16];
    std::strftime(at, sizeof at, "%H:%M:%S", &tm);
    return summary + " (at " + at + ")";
}

}  // namespace smooth
