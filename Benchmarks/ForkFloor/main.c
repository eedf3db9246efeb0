// taskhost-fork-floor: the floor under any isolated run that gets a fresh
// process. Loads the libraries named on the command line (as a zygote loads
// its plugin: the Swift runtime, Foundation and the SDK come with it), then
// has CONCURRENCY processes fork children that `_exit(0)` at once and reap
// them, for SECONDS. What one child costs here is what every forked worker
// costs before it does anything at all.
//
//   taskhost-fork-floor CONCURRENCY SECONDS [LIBRARY ...]
//
// Prints one line: RESULT <forks> <elapsed s> <children's CPU s> <loopers' CPU s> <VmRSS kB>
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double seconds_of(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec / 1e6; }

static long resident_kb(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (status && fgets(line, sizeof line, status)) {
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    }
    if (status) fclose(status);
    return kb;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONCURRENCY SECONDS [LIBRARY ...]\n", argv[0]);
        return 2;
    }
    int concurrency = atoi(argv[1]);
    double seconds = atof(argv[2]);
    if (concurrency < 1 || seconds <= 0) {
        fprintf(stderr, "%s: CONCURRENCY must be at least 1 and SECONDS more than 0\n", argv[0]);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL)) {
            fprintf(stderr, "%s: cannot load %s: %s\n", argv[0], argv[i], dlerror());
            return 1;
        }
    }
    long rss = resident_kb();
    int counts[2];
    if (pipe(counts) != 0) { perror("pipe"); return 1; }
    double start = now();
    for (int i = 0; i < concurrency; i++) {
        pid_t looper = fork();
        if (looper < 0) { perror("fork"); return 1; }
        if (looper == 0) {
            long forks = 0;
            while (now() - start < seconds) {
                pid_t child = fork();
                if (child == 0) _exit(0);
                if (child < 0) _exit(1);
                int status;
                while (waitpid(child, &status, 0) < 0) {}
                forks++;
            }
            struct rusage children, self;
            getrusage(RUSAGE_CHILDREN, &children);
            getrusage(RUSAGE_SELF, &self);
            double report[3] = {
                (double)forks,
                seconds_of(children.ru_utime) + seconds_of(children.ru_stime),
                seconds_of(self.ru_utime) + seconds_of(self.ru_stime),
            };
            if (write(counts[1], report, sizeof report) != sizeof report) _exit(1);
            _exit(0);
        }
    }
    double forks = 0, childCPU = 0, looperCPU = 0;
    for (int i = 0; i < concurrency; i++) {
        double report[3];
        if (read(counts[0], report, sizeof report) != sizeof report) { fprintf(stderr, "a looper failed\n"); return 1; }
        forks += report[0];
        childCPU += report[1];
        looperCPU += report[2];
    }
    while (wait(NULL) > 0) {}
    printf("RESULT %.0f %.6f %.6f %.6f %ld\n", forks, now() - start, childCPU, looperCPU, rss);
    return 0;
}
