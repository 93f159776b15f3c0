// health: see health.h.
#include "worker/health.h"

namespace smooth {

std::optional<HealthAnswer> health_answer(const std::string& health_path, std::string_view request_path, bool draining,
                                          std::string_view build) {
    if (health_path.empty() || request_path != health_path) return std::nullopt;
    std::string of_build = " build " + std::string(build) + "\n";
    if (draining) return HealthAnswer{503, "draining" + of_build, true};
    return HealthAnswer{200, "ok" + of_build, false};
}

}  // namespace smooth
