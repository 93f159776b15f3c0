// random: see random.h.
#include "core/random.h"

#include <cerrno>
#include <sys/random.h>

#include "core/fd.h"

namespace smooth {

std::string random_bytes(std::string& out, size_t n) {
    out.assign(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out.data() + got, n - got, 0);
        if (r == -1 && errno == EINTR) continue;
        if (r == -1) return "getrandom() failed: " + errno_text(errno);
        got += size_t(r);
    }
    return "";
}

}  // namespace smooth
