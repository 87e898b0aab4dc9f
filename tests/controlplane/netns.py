"""The tier's own network namespace: only a loopback interface, so nothing it starts can reach another address."""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
from pathlib import Path

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
EPHEMERAL_PORTS = (40000, 60999)


def interfaces() -> list[str]:
    """The interfaces of this process's network namespace (/proc/self/net is per namespace; /sys/class/net shows
    the namespace sysfs was mounted in)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def isolated() -> bool:
    """True when this process's network namespace has no interface but `lo`."""
    return interfaces() == ["lo"]


def enter_private_namespace() -> None:
    """Move this process (and every process it starts from now on) into a new network namespace holding only
    loopback, and bring loopback up. Needs root (CAP_SYS_ADMIN), as `ip netns add` does."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET) failed: {os.strerror(errno)} (the control plane tier needs "
                      "root to make its own network namespace)")
    loopback_up()


def keep_servers_ports_apart() -> None:
    """Outgoing connections take their local ports from this range (a per-namespace setting): the tier's servers
    listen below it (cluster.free_port), so a port handed to a server is never taken meanwhile by a client."""
    Path("/proc/sys/net/ipv4/ip_local_port_range").write_text(f"{EPHEMERAL_PORTS[0]} {EPHEMERAL_PORTS[1]}\n")


def loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2: the SIOCSIFFLAGS ioctl."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, bytes(14))
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, bytes(14)))


def namespace_id() -> str:
    return os.readlink(Path("/proc/self/ns/net"))
