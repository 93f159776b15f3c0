// echo: sends every message back as it came (text: the line, frame: the
// payload, tcp: the bytes, http: the request body).
#include "smooth/module.h"

namespace {

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    if (msg->protocol == SMOOTH_HTTP)
        smooth_http_respond(w, conn, 200, "application/octet-stream", msg->data.data, msg->data.len);
    else
        smooth_send(w, conn, msg->data.data, msg->data.len);
}

}  // namespace

SMOOTH_MODULE(echo) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "echo", "1", nullptr, nullptr, nullptr, nullptr, on_message, nullptr,
    };
    return &m;
}
