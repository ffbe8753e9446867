#ifndef CBENEATH_H
#define CBENEATH_H

#include <fcntl.h>
#include <sys/stat.h>

/// openat2(2), which glibc does not wrap: opens `path` relative to `dirfd` with the
/// resolution restrictions in `resolve` (the RESOLVE_* flags below). Returns a descriptor,
/// or -1 with errno set.
int cbeneath_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve);

/// The kernel's RESOLVE_* flags (linux/openat2.h), named for Swift.
enum {
    CBENEATH_RESOLVE_NO_XDEV = 0x01,
    CBENEATH_RESOLVE_NO_MAGICLINKS = 0x02,
    CBENEATH_RESOLVE_NO_SYMLINKS = 0x04,
    CBENEATH_RESOLVE_BENEATH = 0x08,
};

/// O_PATH, which Swift's Glibc module does not show (it needs _GNU_SOURCE).
enum { CBENEATH_O_PATH = 010000000 };

#endif
