"""reloadcheck: the parts of tools/reload-check, one idea each.

  target    the URL (loopback only), one-request probes, the version text
  load      tests/support/loadgen in the background, its phases, the figures kept
  reloads   one reload: deploy, command, the wait for its completion
  check     the profiles, each steady and then through reloads
  verdict   a profile's figures by phase and its verdict
  report    the table and the lines under it
  procs     every process started, bounded and stopped on the way out
  anchors   the servers tools/reload-check-anchors sets up beside smooth
"""
