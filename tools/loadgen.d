tools/loadgen: tools/loadgen.cpp
