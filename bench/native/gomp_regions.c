// Counts libtorch's OpenMP parallel regions and how late the worker thread starts each of them, by the pause before the
// region (docs/performance.md §4). Preloaded into crate-mae, it wraps GOMP_parallel (what `#pragma omp parallel`
// compiles to) for every caller that links it through the PLT (libtorch, oneDNN, MKL); our own kernels call libgomp
// directly and are not counted.
//
//   gcc -O2 -shared -fPIC bench/native/gomp_regions.c -o /tmp/gomp_regions.so -ldl
//   CM=src/CrateMae.Cli/bin/Release/net10.0/crate-mae
//   for s in 2 12; do LD_PRELOAD=/tmp/gomp_regions.so $CM bench --model crate-small --batch 8 --steps $s --threads 2 --precision bf16 --only train; done
//
// The difference between the two runs' totals, divided by 10, is the count and the worker's lateness per step (the
// warm-up differs between runs by a step or two; use several pairs).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
typedef int (*thread_num_fn)(void);

static gomp_parallel_fn real_parallel;
static thread_num_fn thread_num;
static double last_end;
static long regions, with_worker;
static double late_sum[8], late_count[8];
static const double bucket_limits[] = {50, 100, 200, 500, 1000, 2000, 5000};
static const char *bucket_names[] = {"<50us", "<100us", "<200us", "<500us", "<1ms", "<2ms", "<5ms", ">=5ms"};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

// libtorch loads its own libgomp (hashed name) with dlopen, so RTLD_NEXT does not reach it: find it in the maps.
static void find_libgomp(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4096];
    while (maps && fgets(line, sizeof line, maps))
    {
        char *path = strchr(line, '/');
        if (!path || !strstr(path, "libgomp")) continue;
        path[strcspn(path, "\n")] = 0;
        void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (!lib) continue;
        real_parallel = (gomp_parallel_fn)dlsym(lib, "GOMP_parallel");
        thread_num = (thread_num_fn)dlsym(lib, "omp_get_thread_num");
        break;
    }
    if (maps) fclose(maps);
}

struct region { void (*fn)(void *); void *data; double start; double late; };

static void body(void *arg)
{
    struct region *r = arg;
    if (thread_num() == 1) r->late = now_us() - r->start;
    r->fn(r->data);
}

// Called from the thread that opens the region (libtorch's main thread here); nested regions are not expected.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags)
{
    if (!real_parallel) find_libgomp();
    struct region r = {fn, data, now_us(), -1};
    double pause = last_end > 0 ? r.start - last_end : 0;
    real_parallel(body, &r, threads, flags);
    last_end = now_us();
    regions++;
    if (r.late < 0) return;
    int b = 0;
    while (b < 7 && pause >= bucket_limits[b]) b++;
    late_sum[b] += r.late;
    late_count[b]++;
    with_worker++;
}

__attribute__((destructor)) static void report(void)
{
    double total = 0;
    fprintf(stderr, "GOMP_parallel regions %ld, %ld with a worker thread\n", regions, with_worker);
    for (int b = 0; b < 8; b++)
    {
        if (!late_count[b]) continue;
        fprintf(stderr, "pause before %-7s regions %7.0f, worker starts %7.1f us late on average, %8.1f ms in all\n",
                bucket_names[b], late_count[b], late_sum[b] / late_count[b], late_sum[b] / 1000);
        total += late_sum[b];
    }
    fprintf(stderr, "worker late in all: %.1f ms\n", total / 1000);
}
