"""The device side: serial protocol (host half), monitor, verify, flash and the virtual board (sim).

The board half of the protocol is C/C++ in `firmware/tinykd_fw/src/core/`; docs/protocol.md describes both.
"""
