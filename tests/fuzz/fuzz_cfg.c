/* libFuzzer harness: the configuration file parser and the value checks of
 * every key. The input is a config file; it is read through a memfd (the
 * parser reads files, as triaged does). Whatever it accepts must be
 * re-printable: the effective configuration is written out. */
#include "io/cfg.h"
#include "core/tri_err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    static FILE *sink;
    if (fd < 0) {
        fd = memfd_create("fuzz-cfg", MFD_CLOEXEC);
        sink = fopen("/dev/null", "w");
        if (fd < 0 || !sink)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    cfg_t *c;
    if (cfg_new(&c))
        return 0;
    char err[TRI_ERRLEN];
    if (!cfg_load_file(c, path, err, sizeof err))
        cfg_write_effective(c, sink);
    cfg_free(c);
    return 0;
}
