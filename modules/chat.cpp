// chat: the gateway pattern's demo (examples/chat.conf).
//
// The same module plays both parts:
//   - in the gateway group (ws://, never reloaded) it only serves the page,
//     GET / (the WebSocket messages there go to the business group);
//   - in the business group (reloaded at will) it handles every message, and
//     keeps no state: any business worker can handle any message.
//
// Messages from the page (text):
//   join NAME        -> to everyone: "* NAME joined"
//   say NAME: TEXT   -> to everyone: "NAME: TEXT"
//   ping SEQ         -> to the sender only: "pong SEQ" (what the tests send)
// Each answer ends with "[pid P, chat V]": the business worker that handled
// it, and its version, so a reload can be watched from the page.
//
// CHAT_WORK_US=500 in the server's environment makes each message take that
// long (the worker is busy, as with real work): messages are then really in
// flight when a business worker is told to drain.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "smooth/module.h"

#ifndef HELLO_VERSION
#define HELLO_VERSION "dev"
#endif

namespace {

long work_us = 0;

const char kPage[] = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>smooth chat</title>
<style>
 body { font: 15px/1.4 sans-serif; margin: 2em; max-width: 46em; }
 #log { border: 1px solid #ccc; height: 22em; overflow-y: auto; padding: .5em; margin: 1em 0; }
 #log div.me { color: #1f5fa8; } .who { color: #888; font-size: 12px; }
 input { font-size: 15px; padding: .3em; } #text { width: 28em; }
</style></head>
<body>
<h1>smooth chat</h1>
<p>Each line says which business worker handled it. Reload the business group
(<code>./server -c examples/chat.conf reload</code>) while you chat: the
connection stays open, and the answers come from the new version.</p>
<p>status: <b id="status">connecting</b> &middot; connections opened: <b id="opens">0</b></p>
<div>name <input id="name" value="guest"> <button id="join">join</button></div>
<div id="log"></div>
<form id="form"><input id="text" autocomplete="off" placeholder="say something"> <button>send</button></form>
<script>
const log = document.getElementById('log');
let opens = 0;
const ws = new WebSocket('ws://' + location.host + '/chat');
function show(text, mine) {
  const line = document.createElement('div');
  const m = text.match(/^(.*) (\[pid \d+, chat [^\]]+\])$/);
  line.textContent = m ? m[1] + ' ' : text;
  if (m) { const who = document.createElement('span'); who.className = 'who'; who.textContent = m[2]; line.appendChild(who); }
  if (mine) line.className = 'me';
  log.appendChild(line); log.scrollTop = log.scrollHeight;
}
ws.onopen = () => { opens++; document.getElementById('opens').textContent = opens;
                    document.getElementById('status').textContent = 'connected'; };
ws.onclose = (e) => { document.getElementById('status').textContent = 'closed (' + e.code + ')'; };
ws.onmessage = (e) => show(e.data, e.data.startsWith(document.getElementById('name').value + ':'));
document.getElementById('join').onclick = () => ws.send('join ' + document.getElementById('name').value);
document.getElementById('form').onsubmit = (e) => {
  e.preventDefault();
  const t = document.getElementById('text');
  if (t.value) ws.send('say ' + document.getElementById('name').value + ': ' + t.value);
  t.value = '';
};
</script></body></html>
)";

bool starts_with(smooth_str s, const char* prefix) {
    size_t n = std::strlen(prefix);
    return s.len >= n && std::memcmp(s.data, prefix, n) == 0;
}

// Busy, like real work: the worker handles nothing else meanwhile.
void work() {
    if (work_us <= 0) return;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000 < work_us);
}

int on_worker_start(smooth_worker*) {
    const char* us = std::getenv("CHAT_WORK_US");
    work_us = us ? std::atol(us) : 0;
    return 0;
}

void on_message(smooth_worker* w, smooth_conn_id conn, const smooth_message* msg) {
    if (msg->protocol == SMOOTH_HTTP) {  // the gateway's part: the page
        smooth_http_respond(w, conn, 200, "text/html; charset=utf-8", kPage, sizeof kPage - 1);
        return;
    }
    work();
    char out[4200];
    const smooth_str in = msg->data;
    const int pid = smooth_whoami(w).pid;
    int n;
    if (starts_with(in, "ping ")) {
        n = std::snprintf(out, sizeof out, "pong %.*s [pid %d, chat %s]", int(in.len - 5), in.data + 5, pid, HELLO_VERSION);
        smooth_send(w, conn, out, size_t(n) < sizeof out ? size_t(n) : sizeof out - 1);
        return;
    }
    if (starts_with(in, "join ")) {
        n = std::snprintf(out, sizeof out, "* %.*s joined [pid %d, chat %s]", int(in.len - 5 > 64 ? 64 : in.len - 5),
                          in.data + 5, pid, HELLO_VERSION);
    } else if (starts_with(in, "say ")) {
        n = std::snprintf(out, sizeof out, "%.*s [pid %d, chat %s]", int(in.len - 4 > 4000 ? 4000 : in.len - 4),
                          in.data + 4, pid, HELLO_VERSION);
    } else {
        n = std::snprintf(out, sizeof out, "? unknown message [pid %d, chat %s]", pid, HELLO_VERSION);
        smooth_send(w, conn, out, size_t(n));
        return;
    }
    smooth_broadcast(w, out, size_t(n) < sizeof out ? size_t(n) : sizeof out - 1, 0);
}

}  // namespace

SMOOTH_MODULE(chat) {
    static const smooth_module m = {
        SMOOTH_API_VERSION, "chat", HELLO_VERSION, on_worker_start, nullptr, nullptr, nullptr, on_message, nullptr,
    };
    return &m;
}
