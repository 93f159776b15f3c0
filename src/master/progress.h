// progress: how a long command the master runs (a reload, an upgrade) tells
// the operators waiting on it what happens, one line at a time, and how it ends.
//
// Each waiting `./server reload` or `./server upgrade` is a Progress: it gets
// every line of the story, `done` on the last one, with `ok` telling success
// from failure (the command's exit status).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace smooth {

using Progress = std::function<void(const std::string& line, bool done, bool ok)>;

// The last line: logged (info, or a warning when it failed) and sent to every
// waiter, who are then forgotten. Returns what `status` shows as the last
// result: the line and the time of day it ended.
std::string tell_the_end(std::vector<Progress>& waiting, bool ok, const std::string& summary);

}  // namespace smooth
