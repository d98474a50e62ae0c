"""The importers' shared parts: source files, times, stations, graphs, command-line options, writing."""
