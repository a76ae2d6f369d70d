// A host program (plain C++, no CUDA needed) that runs the device code's Philox4x32-10 and
// Poisson(1) draw of scan_common.cuh on the CPU, so that a test compares them with kiln_eval's
// (crates/kiln-kernels/tests/host_check.rs). Not a kernel: build.rs does not compile it.
//
//   host_check philox C0 C1 C2 C3 K0 K1          prints the four output words (hex)
//   host_check poisson SEED ROWS REPLICATES CDF0..CDF19   prints the draws, replicate-major
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan_common.cuh"

int main(int argc, char** argv) {
    if (argc == 8 && strcmp(argv[1], "philox") == 0) {
        uint32_t c[4];
        for (int i = 0; i < 4; ++i) c[i] = (uint32_t)strtoul(argv[2 + i], NULL, 0);
        kiln_philox4x32_10(c, (uint32_t)strtoul(argv[6], NULL, 0), (uint32_t)strtoul(argv[7], NULL, 0));
        printf("%08x %08x %08x %08x\n", c[0], c[1], c[2], c[3]);
        return 0;
    }
    if (argc == 25 && strcmp(argv[1], "poisson") == 0) {
        const unsigned long long seed = strtoull(argv[2], NULL, 0);
        const uint32_t rows = (uint32_t)strtoul(argv[3], NULL, 0), reps = (uint32_t)strtoul(argv[4], NULL, 0);
        double cdf[20];
        for (int k = 0; k < 20; ++k) cdf[k] = strtod(argv[5 + k], NULL);
        for (uint32_t r = 0; r < reps; ++r)
            for (uint32_t row = 0; row < rows; ++row)
                printf("%u\n", kiln_poisson1(row, r, (uint32_t)seed, (uint32_t)(seed >> 32), cdf));
        return 0;
    }
    fprintf(stderr, "usage: host_check philox C0 C1 C2 C3 K0 K1 | poisson SEED ROWS REPLICATES CDF0..CDF19\n");
    return 2;
}
