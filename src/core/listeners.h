// listeners: who hears of an event, without the one that fires it knowing who.
//
// redis's ae fires a file event's callback and does not know what it does;
// here a component that has something to tell (a worker is READY, a reload
// took a step) fires its Listeners, and each party that cares added a
// callback once. The reload does not know about the timeline that draws it,
// nor the master about systemd: they only listen.
//
//   table.ready.add([this](const WorkerProcess& w) { reload_.on_ready(w.pid); });
//   ...
//   ready.fire(w);   // every callback, in the order they were added
//
// Callbacks run one after the other, in the firing component's own call: a
// listener must not destroy the component that fires it. Adding a listener
// while an event is being fired is allowed; the new one hears the next event.
#pragma once

#include <functional>
#include <vector>

namespace smooth {

template <typename... Args>
class Listeners {
public:
    using Callback = std::function<void(Args...)>;

    void add(Callback callback) { callbacks_.push_back(std::move(callback)); }

    void fire(Args... args) const {
        // By index: a callback may add another (which then waits for the next event).
        for (size_t i = 0, n = callbacks_.size(); i < n; i++) callbacks_[i](args...);
    }

private:
    std::vector<Callback> callbacks_;
};

}  // namespace smooth
