"""Is there anything on a disk at all? A cheap look at its first mebibyte, before paying
for a libguestfs appliance: a partition table, a filesystem, LVM or LUKS signature. An
image with none of them (the lab's 16 MiB pseudo-random test-driver disks) has no
operating system to adapt."""

from __future__ import annotations

HEAD_BYTES = 1 << 20
"""How much of a disk's start :func:`signatures` needs."""

_SIGNATURES: tuple[tuple[str, int, bytes], ...] = (
    ("GPT partition table", 512, b"EFI PART"),
    ("LUKS", 0, b"LUKS\xba\xbe"),
    ("LVM2 physical volume", 536, b"LVM2 001"),
    ("ext2/3/4", 1080, b"\x53\xef"),
    ("XFS", 0, b"XFSB"),
    ("btrfs", 0x10040, b"_BHRfS_M"),
    ("NTFS", 3, b"NTFS    "),
    ("FAT", 54, b"FAT1"),
    ("FAT32", 82, b"FAT32"),
    ("swap", 4086, b"SWAPSPACE2"),
    ("ISO 9660", 0x8001, b"CD001"),
)


def signatures(head: bytes) -> list[str]:
    """What the start of a disk (its first :data:`HEAD_BYTES`, guest-visible) shows:
    names of the recognised structures, empty for none."""
    found = [name for name, at, magic in _SIGNATURES if head[at:at + len(magic)] == magic]
    if head[510:512] == b"\x55\xaa" and "GPT partition table" not in found \
            and _mbr_plausible(head):
        found.insert(0, "MBR partition table")
    return sorted(set(found), key=found.index)


def _mbr_plausible(head: bytes) -> bool:
    """The four MBR entries have valid boot flags (0x00/0x80) and at least one is used."""
    entries = [head[446 + 16 * i:462 + 16 * i] for i in range(4)]
    return all(e[0] in (0x00, 0x80) for e in entries) and any(e[4] for e in entries)
