// probe: a module for the integration tests (tests/integration/test_gateway_api.py).
// Each thing a module can ask of its worker is one command away, so a test
// can make a worker do it and watch, over real sockets, who gets what.
//
// Behind a gateway (role = business) the connection ids are the gateway's
// clients (ws, text or frame); in a plain group they are local connections.
// Every answer ends with "[pid P]": the worker that handled the message.
//
//   on connect             to the client: "id ID" (its id, in decimal)
//   on close               a log line: "probe: closed ID in pid P"
//   /to ID TEXT            smooth_send(ID, "TEXT [pid P]"); the sender gets "ok to [pid P]"
//   /many ID,ID,... TEXT   smooth_send_many(those ids, "TEXT [pid P]"); the sender gets "ok many [pid P]"
//   /all TEXT              smooth_broadcast("TEXT [pid P]") (business workers only)
//   /kick ID               smooth_close(ID) (a WebSocket gets a close frame, 1000);
//                          the sender gets "ok kick [pid P]"
//   anything else          back to the sender: "echo TEXT [pid P, reloads R]"
//   HTTP GET /status/N     answers with status N, whatever N is, and logs
//                          "probe: respond N returned RC"
//   HTTP, any other        200 "probe pid P reloads R"
//
// on_worker_reload (a group with reloadable = false, when a reload runs)
// counts: R above is how many times it ran in this worker, and each run logs
// "probe: on_worker_reload N in pid P". A test reads either.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "smooth/module.h"

namespace {

int reloads = 0;  // on_worker_reload calls in this worker (a worker is one thread)

bool starts_with(smooth_str s, const char* prefix) {
    size_t n = std::strlen(prefix);
    return s.len >= n && std::memcmp(s.data, prefix, n) == 0;
}

// "123 rest" -> 123, and `rest` left pointing after the space.
smooth_conn_id take_id(std::string& rest) {
    size_t end = rest.find_first_of(" ,");
    smooth_conn_id id = std::strtoull(rest.substr(0, end).c_str(), nullptr, 10);
    rest = end == std::string::npos ? "" : rest.substr(end + 1);
    return id;
}

void say(smooth_worker* w, smooth_conn_id conn, const std::string& text) {
    smooth_send(w, conn, text.data(), text.size());
}

std::string tag(smooth_worker* w) { return " [pid " + std::to_string(smooth_whoami(w).pid) + "]"; }

void on_worker_reload(smooth_worker* w) {
    reloads++;
    smooth_log(w, "probe: on_worker_reload %d in pid %d", reloads, smooth_whoami(w).pid);
}

void on_connect(smooth_worker* w, smooth_conn_id conn) { say(w, conn, "id " + std::to_string(conn)); }

void on_close(smooth_worker* w, smooth_conn_id conn) {
    smooth_log(w, "probe: closed %llu in pid %d", static_cast<unsigned long long>(conn), smooth_whoami(w).pid);
}

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    const int pid = smooth_whoami(w).pid;
    if (msg->protocol == SMOOTH_HTTP) {
        const smooth_http_request* req = msg->http;
        if (req && starts_with(req->path, "/status/")) {
            // Whatever status the path names, valid or not; the log says what
            // the worker answered the module (0, or -1 for an answer it refused).
            int status = std::atoi(std::string(req->path.data + 8, req->path.len - 8).c_str());
            int rc = smooth_http_respond(w, conn, status, "text/plain", "odd\n", 4);
            smooth_log(w, "probe: respond %d returned %d", status, rc);
            return;
        }
        std::string body = "probe pid " + std::to_string(pid) + " reloads " + std::to_string(reloads) + "\n";
        smooth_http_respond(w, conn, 200, "text/plain", body.data(), body.size());
        return;
    }
    const smooth_str in = msg->data;
    if (starts_with(in, "/to ")) {
        std::string rest(in.data + 4, in.len - 4);
        smooth_conn_id to = take_id(rest);
        say(w, to, rest + tag(w));
        say(w, conn, "ok to" + tag(w));
    } else if (starts_with(in, "/many ")) {
        std::string rest(in.data + 6, in.len - 6);
        const size_t space = rest.find(' ');
        std::string list = rest.substr(0, space) + ",", text = space == std::string::npos ? "" : rest.substr(space + 1);
        std::vector<smooth_conn_id> ids;
        for (size_t at = 0, comma; (comma = list.find(',', at)) != std::string::npos; at = comma + 1)
            ids.push_back(std::strtoull(list.substr(at, comma - at).c_str(), nullptr, 10));
        text += tag(w);
        smooth_send_many(w, ids.data(), ids.size(), text.data(), text.size(), 0);
        say(w, conn, "ok many" + tag(w));
    } else if (starts_with(in, "/all ")) {
        std::string text = std::string(in.data + 5, in.len - 5) + tag(w);
        smooth_broadcast(w, text.data(), text.size(), 0);
    } else if (starts_with(in, "/kick ")) {
        std::string rest(in.data + 6, in.len - 6);
        smooth_close(w, take_id(rest));
        say(w, conn, "ok kick" + tag(w));
    } else {
        say(w, conn, "echo " + std::string(in.data, in.len) + " [pid " + std::to_string(pid) + ", reloads " +
                         std::to_string(reloads) + "]");
    }
}

}  // namespace

SMOOTH_MODULE(probe) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "probe", "1", nullptr, on_worker_reload, nullptr, on_connect, on_message, on_close,
    };
    return &m;
}
