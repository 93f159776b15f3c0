// ./server: the smooth master, its workers, and the commands that drive them.
// Everything starts in cli.cpp.
#include "cli/cli.h"

int main(int argc, char** argv) { return smooth::cli_main(argc, argv); }
