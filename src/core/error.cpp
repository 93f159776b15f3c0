#include "core/error.h"

#include <cstring>

namespace smooth {

std::string errno_text(int err) {
    const char* name = strerrorname_np(err);
    std::string text = name ? name : ("errno " + std::to_string(err));
    return text + " (" + std::strerror(err) + ")";
}

}  // namespace smooth
