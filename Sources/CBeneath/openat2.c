#define _GNU_SOURCE
#include "CBeneath.h"
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int cbeneath_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
    struct open_how how = { .flags = (unsigned long long)flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
