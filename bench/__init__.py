"""`scripts/bench`: storfs against its peers (rclone mount, tmpfs, a bare requests loop) on loopback.

Run as `python3 -m bench` from the repository root (scripts/bench does that after setup).
"""
