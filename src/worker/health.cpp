// health: see health.h.
#include "worker/health.h"

namespace smooth {

std::optional<HealthAnswer> health_answer(const std::string& health_path, std::string_view request_path, bool draining) {
    if (health_path.empty() || request_path != health_path) return std::nullopt;
    if (draining) return HealthAnswer{503, "draining\n", true};
    return HealthAnswer{200, "ok\n", false};
}

}  // namespace smooth
