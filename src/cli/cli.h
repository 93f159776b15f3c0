// cli: the commands of ./server, as an operator types them.
//
//   ./server [-c FILE] start [-d] | stop [-g] | restart [-d] | reload [--no-wait]
//                      status [--json] | connections | check
//
// Every command but start and check talks to a running master. It finds it
// through the pid file, believes the pid only after check_master() has proved
// it (pidfile.h), and then speaks over the control socket (control.h).
#pragma once

namespace smooth {

// Returns the process exit status.
int cli_main(int argc, char** argv);

}  // namespace smooth
