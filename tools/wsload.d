tools/wsload: tools/wsload.cpp tools/histogram.h
tools/histogram.h:
