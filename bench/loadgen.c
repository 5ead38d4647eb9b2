// The load generator in C: a drop-in alternative to bench/loadgen.ts with the
// same protocol, the same checks and the same output, on one thread with
// epoll and non-blocking sockets (TCP_NODELAY on every one), so that it costs
// several times less CPU per request than the Node one and the servers under
// test, not the load, are what saturates.
//
//   gcc -O2 -Wall -Wextra -std=c11 -D_GNU_SOURCE -o build/bench/loadgen-c bench/loadgen.c
//   build/bench/loadgen-c '{"mode":"rr","port":1234,"connections":100,"seconds":2}'
//
// Modes (as in loadgen.ts):
//   rr       ping-pong of stamped 64-byte messages on each connection
//            ("lines":1: each message one line, ending in its only \n)
//   stream   64 KiB chunks of a pattern (byte k of the stream is k % 251), echo checked
//   churn    connect, exchange one 64-byte message, close; `connections` at a time
//   idle     open `idle` connections, print "ready", wait for a line on stdin
//   scaling  `idle` idle connections beside one rr connection
//
// rr and scaling use level-triggered epoll (one read or write per readiness,
// no extra EAGAIN round trips); stream too, writing until the socket is full;
// churn uses edge-triggered epoll and drives each worker until EAGAIN.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 64
#define STREAM_CHUNK (64 * 1024)
#define PATTERN_PERIOD 251
#define READ_BUFFER (256 * 1024)
#define OPEN_BATCH 200
#define MAX_EVENTS 1024
#define CLOSE_TIMEOUT_NS (10ULL * 1000000000ULL)

static int epfd;
static uint16_t port;
static uint64_t errors;
static unsigned char readbuf[READ_BUFFER];
static unsigned char pattern[STREAM_CHUNK + PATTERN_PERIOD];

// ---------------------------------------------------------------- utilities

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void *xrealloc(void *p, size_t size) {
  void *q = realloc(p, size);
  if (q == NULL) die("realloc");
  return q;
}

static void line(const char *text) {
  fputs(text, stdout);
  fflush(stdout);
}

static void watchdog(int sig) {
  (void)sig;
  static const char msg[] = "loadgen-c: watchdog expired\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  _exit(3);
}

/** Epoll registration with the connection's pointer as data. */
static void ep(int op, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data = {.ptr = ptr}};
  if (epoll_ctl(epfd, op, fd, &ev) < 0) die("epoll_ctl");
}

/** Epoll wait that retries on EINTR; timeout in ms (-1: forever). */
static int ep_wait(struct epoll_event *events, int timeout_ms) {
  for (;;) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
    if (n >= 0) return n;
    if (errno != EINTR) die("epoll_wait");
  }
}

static int ms_until(uint64_t deadline) {
  uint64_t now = now_ns();
  if (now >= deadline) return 0;
  return (int)((deadline - now + 999999) / 1000000);
}

/**
 * A non-blocking TCP socket with TCP_NODELAY, connecting to 127.0.0.1:port.
 * Returns the fd (*done = 1 if already connected, 0 if in progress), or -1
 * on immediate failure (counted in errors).
 */
static int start_connect(int *done) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    errors++;
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
    *done = 1;
    return fd;
  }
  if (errno == EINPROGRESS) {
    *done = 0;
    return fd;
  }
  errors++;
  close(fd);
  return -1;
}

// -------------------------------------------------------------- connections

enum { C_CONNECTING, C_OPEN, C_BUSY, C_DONE, C_CLOSING, C_CLOSED };

struct conn {
  int fd;
  int state;
  int registered;  // in the epoll set
  uint32_t id;
  // rr
  uint32_t seq;
  uint32_t have;  // bytes of the echo received
  uint32_t woff;  // bytes of the message written
  uint64_t sent_at;
  unsigned char sent[MESSAGE];
  unsigned char recv[MESSAGE];
  // stream
  uint64_t written;
  uint64_t nread;
  int stopping;
};

struct conns {
  struct conn **v;
  size_t n, cap;
};

static void conns_push(struct conns *list, struct conn *c) {
  if (list->n == list->cap) {
    list->cap = list->cap ? list->cap * 2 : 64;
    list->v = xrealloc(list->v, list->cap * sizeof *list->v);
  }
  list->v[list->n++] = c;
}

/**
 * Opens `count` connections, OPEN_BATCH at a time (each batch fully
 * established before the next starts), so the server's accept queue never
 * overflows. Failures are counted in errors and left out.
 */
static void open_many(struct conns *out, size_t count) {
  struct epoll_event events[MAX_EVENTS];
  for (size_t i = 0; i < count; i += OPEN_BATCH) {
    size_t batch = count - i < OPEN_BATCH ? count - i : OPEN_BATCH;
    size_t pending = 0;
    for (size_t j = 0; j < batch; j++) {
      int done;
      int fd = start_connect(&done);
      if (fd < 0) continue;
      struct conn *c = calloc(1, sizeof *c);
      if (c == NULL) die("calloc");
      c->fd = fd;
      if (done) {
        c->state = C_OPEN;
        conns_push(out, c);
      } else {
        c->state = C_CONNECTING;
        ep(EPOLL_CTL_ADD, fd, EPOLLOUT, c);
        pending++;
      }
    }
    while (pending > 0) {
      int n = ep_wait(events, -1);
      for (int k = 0; k < n; k++) {
        struct conn *c = events[k].data.ptr;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        pending--;
        if (err != 0) {
          errors++;
          close(c->fd);
          free(c);
        } else {
          c->state = C_OPEN;
          conns_push(out, c);
        }
      }
    }
  }
}

/**
 * Closes every connection gracefully: shutdown(SHUT_WR), then wait for the
 * server's end of stream (reading and discarding anything else), then close —
 * as socket.end() and waiting for 'close' does. Gives up after 10 s.
 */
static void close_all(struct conns *list) {
  struct epoll_event events[MAX_EVENTS];
  size_t open = 0;
  for (size_t i = 0; i < list->n; i++) {
    struct conn *c = list->v[i];
    if (c->state == C_CLOSED) continue;
    shutdown(c->fd, SHUT_WR);
    c->state = C_CLOSING;
    ep(c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, EPOLLIN | EPOLLRDHUP, c);
    c->registered = 1;
    open++;
  }
  uint64_t deadline = now_ns() + CLOSE_TIMEOUT_NS;
  while (open > 0 && now_ns() < deadline) {
    int n = ep_wait(events, ms_until(deadline));
    for (int k = 0; k < n; k++) {
      struct conn *c = events[k].data.ptr;
      if (c->state != C_CLOSING) continue;
      ssize_t r = read(c->fd, readbuf, sizeof readbuf);
      if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;
      close(c->fd);
      c->state = C_CLOSED;
      open--;
    }
  }
  for (size_t i = 0; i < list->n; i++) {
    if (list->v[i]->state != C_CLOSED) close(list->v[i]->fd);
    free(list->v[i]);
  }
  list->n = 0;
}

// ------------------------------------------------------------------------ rr

// Latencies are kept exactly, in nanoseconds (saturating at ~4.29 s), in a
// growable array; after the run it is sorted and, as in loadgen.ts, the
// p-th percentile is sorted[min(n - 1, floor(n * p))], reported in µs.
static uint32_t *lat;
static size_t lat_n, lat_cap;

static void lat_push(uint64_t ns) {
  if (lat_n == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
    lat = xrealloc(lat, lat_cap * sizeof *lat);
  }
  lat[lat_n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static void percentile_json(char *out, size_t size, double p) {
  if (lat_n == 0) {
    snprintf(out, size, "null");  // JSON.stringify(NaN)
    return;
  }
  size_t i = (size_t)((double)lat_n * p);
  if (i > lat_n - 1) i = lat_n - 1;
  snprintf(out, size, "%.3f", lat[i] / 1000.0);
}

/** rr messages are lines (the framing benchmark's line protocol). */
static int line_mode;

/** A message whose bytes name its connection and sequence number. */
static void stamp(unsigned char *buf, uint32_t conn, uint32_t seq) {
  memset(buf, 'a' + (int)(seq % 26), MESSAGE);
  for (int i = 0; i < 4; i++) {
    buf[i] = (unsigned char)(conn >> (8 * i));
    buf[4 + i] = (unsigned char)(seq >> (8 * i));
  }
  if (!line_mode) return;
  for (int i = 0; i < 8; i++) if (buf[i] == '\n') buf[i] = '\v';
  buf[MESSAGE - 1] = '\n';
}

/** The connection failed: count it and take it out of the run. */
static void conn_fail(struct conn *c, size_t *active) {
  errors++;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  c->registered = 0;
  close(c->fd);
  c->state = C_CLOSED;
  (*active)--;
}

/**
 * The connection has finished its part of the run: out of the epoll set
 * (EPOLLERR/EPOLLHUP would still be reported with no events asked for).
 */
static void conn_park(struct conn *c) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  c->registered = 0;
}

/** Writes the rest of the current message; returns 0, or -1 on failure. */
static int rr_write(struct conn *c) {
  while (c->woff < MESSAGE) {
    ssize_t w = send(c->fd, c->sent + c->woff, MESSAGE - c->woff, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        ep(EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLOUT, c);
        return 0;
      }
      return -1;
    }
    c->woff += (uint32_t)w;
  }
  return 0;
}

static int rr_send(struct conn *c) {
  stamp(c->sent, c->id, c->seq);
  c->woff = 0;
  c->sent_at = now_ns();
  return rr_write(c);
}

static void rr(struct conns *busy, double seconds, uint64_t *requests_out, double *elapsed) {
  struct epoll_event events[MAX_EVENTS];
  uint64_t requests = 0;
  uint64_t started = now_ns();
  uint64_t deadline = started + (uint64_t)(seconds * 1e9);
  size_t active = 0;
  for (size_t i = 0; i < busy->n; i++) {
    struct conn *c = busy->v[i];
    c->id = (uint32_t)i;
    c->state = C_BUSY;
    ep(EPOLL_CTL_ADD, c->fd, EPOLLIN, c);
    c->registered = 1;
    active++;
    if (rr_send(c) < 0) conn_fail(c, &active);
  }
  while (active > 0) {
    int n = ep_wait(events, -1);
    for (int k = 0; k < n; k++) {
      struct conn *c = events[k].data.ptr;
      if (c->state != C_BUSY) continue;
      uint32_t ev = events[k].events;
      if (ev & EPOLLOUT) {
        if (rr_write(c) < 0) {
          conn_fail(c, &active);
          continue;
        }
        if (c->woff == MESSAGE) ep(EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
      }
      if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      // The echo never runs ahead of the request, so reading at most what
      // is missing of the current message never splits two messages.
      ssize_t r = read(c->fd, c->recv + c->have, MESSAGE - c->have);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        conn_fail(c, &active);
        continue;
      }
      c->have += (uint32_t)r;
      if (c->have < MESSAGE) continue;
      c->have = 0;
      if (memcmp(c->recv, c->sent, MESSAGE) != 0) errors++;
      uint64_t now = now_ns();
      lat_push(now - c->sent_at);
      requests++;
      c->seq++;
      if (now >= deadline) {
        c->state = C_DONE;
        conn_park(c);
        active--;
        continue;
      }
      if (rr_send(c) < 0) conn_fail(c, &active);
    }
  }
  *requests_out = requests;
  *elapsed = (double)(now_ns() - started) / 1e9;
}

// -------------------------------------------------------------------- stream

/** Counts mismatches of `len` echoed bytes at stream offset `at`, per 64 KiB piece as loadgen.ts. */
static void stream_check(const unsigned char *data, size_t len, uint64_t at) {
  for (size_t i = 0; i < len; i += STREAM_CHUNK) {
    size_t part = len - i < STREAM_CHUNK ? len - i : STREAM_CHUNK;
    if (memcmp(data + i, pattern + (at + i) % PATTERN_PERIOD, part) != 0) errors++;
  }
}

static void stream_stop(struct conn *c) {
  c->stopping = 1;
  ep(EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
}

static void stream(struct conns *busy, double seconds, uint64_t *bytes_out, double *elapsed) {
  struct epoll_event events[MAX_EVENTS];
  for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (unsigned char)(i % PATTERN_PERIOD);
  uint64_t bytes = 0;
  uint64_t started = now_ns();
  uint64_t deadline = started + (uint64_t)(seconds * 1e9);
  int past_deadline = 0;
  size_t active = 0;
  for (size_t i = 0; i < busy->n; i++) {
    struct conn *c = busy->v[i];
    c->state = C_BUSY;
    ep(EPOLL_CTL_ADD, c->fd, EPOLLIN | EPOLLOUT, c);
    c->registered = 1;
    active++;
  }
  while (active > 0) {
    int n = ep_wait(events, past_deadline ? -1 : ms_until(deadline));
    if (!past_deadline && now_ns() >= deadline) {
      // Stop writing everywhere (even mid-chunk); what was written must come back.
      past_deadline = 1;
      for (size_t i = 0; i < busy->n; i++) {
        struct conn *c = busy->v[i];
        if (c->state != C_BUSY || c->stopping) continue;
        stream_stop(c);
        if (c->nread == c->written) {
          c->state = C_DONE;
          conn_park(c);
          active--;
        }
      }
    }
    for (int k = 0; k < n; k++) {
      struct conn *c = events[k].data.ptr;
      if (c->state != C_BUSY) continue;
      uint32_t ev = events[k].events;
      if ((ev & EPOLLOUT) && !c->stopping) {
        // Write from the pattern at the stream offset until the socket is
        // full; the chunk boundaries follow the stream offset.
        for (;;) {
          size_t in_chunk = (size_t)(c->written % STREAM_CHUNK);
          size_t want = STREAM_CHUNK - in_chunk;
          ssize_t w = send(c->fd, pattern + c->written % PATTERN_PERIOD, want, MSG_NOSIGNAL);
          if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) {
              conn_fail(c, &active);
              break;
            }
            break;
          }
          c->written += (uint64_t)w;
          if (now_ns() >= deadline) {
            stream_stop(c);
            break;
          }
          if ((size_t)w < want) break;  // the socket is full
        }
        if (c->state != C_BUSY) continue;
      }
      if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      ssize_t r = read(c->fd, readbuf, sizeof readbuf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        conn_fail(c, &active);
        continue;
      }
      stream_check(readbuf, (size_t)r, c->nread);
      c->nread += (uint64_t)r;
      bytes += (uint64_t)r;
      if (c->nread > c->written) {
        errors++;  // more came back than was sent
        conn_fail(c, &active);
        continue;
      }
      if (c->stopping && c->nread == c->written) {
        c->state = C_DONE;
        conn_park(c);
        active--;
      }
    }
  }
  *bytes_out = bytes;
  *elapsed = (double)(now_ns() - started) / 1e9;
}

// --------------------------------------------------------------------- churn

enum { W_CONNECTING, W_READING, W_CLOSING, W_DONE };

struct worker {
  int fd;
  int state;
  uint32_t have;
  uint32_t woff;
};

static unsigned char churn_message[MESSAGE];  // 64 × 'x'

/** Starts the worker's next exchange, or retires it at the deadline. */
static void churn_next(struct worker *w, uint64_t deadline, size_t *active) {
  while (now_ns() < deadline) {
    int done;
    int fd = start_connect(&done);
    if (fd < 0) continue;  // counted; try again
    w->fd = fd;
    w->state = W_CONNECTING;
    w->have = 0;
    w->woff = 0;
    // Edge-triggered: each step below runs until EAGAIN, then waits for the next edge.
    ep(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, w);
    return;
  }
  w->state = W_DONE;
  (*active)--;
}

/** Drives one worker as far as it goes; returns 1 when its exchange is complete. */
static int churn_step(struct worker *w, uint64_t *requests) {
  const unsigned char *message = churn_message;
  if (w->state == W_CONNECTING) {
    while (w->woff < MESSAGE) {
      ssize_t r = send(w->fd, message + w->woff, MESSAGE - w->woff, MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return 0;  // still connecting, or full
        goto fail;
      }
      w->woff += (uint32_t)r;
    }
    w->state = W_READING;
  }
  if (w->state == W_READING) {
    unsigned char buf[MESSAGE];
    while (w->have < MESSAGE) {
      ssize_t r = read(w->fd, buf, MESSAGE - w->have);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return 0;
        goto fail;
      }
      if (r == 0) goto fail;  // closed before the echo was complete
      if (memcmp(buf, message, (size_t)r) != 0) errors++;
      w->have += (uint32_t)r;
    }
    shutdown(w->fd, SHUT_WR);
    w->state = W_CLOSING;
  }
  // W_CLOSING: wait for the server's end of stream, then close.
  for (;;) {
    ssize_t r = read(w->fd, readbuf, sizeof readbuf);
    if (r > 0) continue;  // unexpected extra bytes: ignore, as loadgen.ts does
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return 0;
    if (r < 0) goto fail;
    break;
  }
  close(w->fd);
  (*requests)++;
  return 1;
fail:
  errors++;
  close(w->fd);
  return 1;
}

static void churn(size_t concurrency, double seconds, uint64_t *requests_out, double *elapsed) {
  struct epoll_event events[MAX_EVENTS];
  uint64_t requests = 0;
  uint64_t started = now_ns();
  uint64_t deadline = started + (uint64_t)(seconds * 1e9);
  memset(churn_message, 120, MESSAGE);
  struct worker *workers = calloc(concurrency ? concurrency : 1, sizeof *workers);
  if (workers == NULL) die("calloc");
  size_t active = concurrency;
  for (size_t i = 0; i < concurrency; i++) churn_next(&workers[i], deadline, &active);
  while (active > 0) {
    int n = ep_wait(events, -1);
    for (int k = 0; k < n; k++) {
      struct worker *w = events[k].data.ptr;
      if (w->state == W_DONE) continue;
      if (churn_step(w, &requests)) churn_next(w, deadline, &active);
    }
  }
  free(workers);
  *requests_out = requests;
  *elapsed = (double)(now_ns() - started) / 1e9;
}

// ---------------------------------------------------------------------- main

/** The value after "key": in a flat JSON object, or NULL. */
static const char *json_value(const char *json, const char *key) {
  char pattern_key[64];
  snprintf(pattern_key, sizeof pattern_key, "\"%s\":", key);
  const char *p = strstr(json, pattern_key);
  if (p == NULL) return NULL;
  p += strlen(pattern_key);
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

static double json_number(const char *json, const char *key, double fallback) {
  const char *p = json_value(json, key);
  if (p == NULL) return fallback;
  char *end;
  double v = strtod(p, &end);
  return end == p ? fallback : v;
}

static void report(uint64_t requests, uint64_t bytes, double seconds, int latencies, double cpu) {
  char p50[32] = "", p99[32] = "", lat_json[96] = "";
  if (latencies) {
    qsort(lat, lat_n, sizeof *lat, cmp_u32);
    percentile_json(p50, sizeof p50, 0.5);
    percentile_json(p99, sizeof p99, 0.99);
    snprintf(lat_json, sizeof lat_json, "\"latenciesUs\":{\"p50\":%s,\"p99\":%s},", p50, p99);
  }
  printf("{\"requests\":%llu,\"bytes\":%llu,\"seconds\":%.6f,%s\"loadCpuSeconds\":%.6f,\"errors\":%llu}\n",
         (unsigned long long)requests, (unsigned long long)bytes, seconds, lat_json, cpu,
         (unsigned long long)errors);
  fflush(stdout);
}

/** Waits for a line (or end of file) on standard input. */
static void wait_for_line(void) {
  char c;
  for (;;) {
    ssize_t r = read(0, &c, 1);
    if (r == 0 || (r < 0 && errno != EINTR) || (r == 1 && c == '\n')) return;
  }
}

int main(int argc, char **argv) {
  const char *json = argc > 1 ? argv[1] : "{}";
  const char *mode_at = json_value(json, "mode");
  char mode[16] = "";
  if (mode_at != NULL && *mode_at == '"') {
    size_t i = 0;
    for (mode_at++; *mode_at != '"' && *mode_at != '\0' && i < sizeof mode - 1; mode_at++) mode[i++] = *mode_at;
    mode[i] = '\0';
  }
  int is_rr = strcmp(mode, "rr") == 0, is_stream = strcmp(mode, "stream") == 0;
  int is_churn = strcmp(mode, "churn") == 0, is_idle = strcmp(mode, "idle") == 0;
  int is_scaling = strcmp(mode, "scaling") == 0;
  if (!(is_rr || is_stream || is_churn || is_idle || is_scaling)) {
    fprintf(stderr, "loadgen-c: unknown mode in %s\n", json);
    return 2;
  }
  double p = json_number(json, "port", -1);
  if (!(p > 0 && p < 65536)) {
    fprintf(stderr, "loadgen-c: bad port in %s\n", json);
    return 2;
  }
  port = (uint16_t)p;
  double seconds = json_number(json, "seconds", 1);
  double conn_default = is_rr ? 100 : is_stream ? 8 : 16;
  double connections = json_number(json, "connections", conn_default);
  double idle = json_number(json, "idle", is_idle ? 10000 : 0);
  line_mode = json_number(json, "lines", 0) != 0;
  if (connections < 0) connections = 0;
  if (idle < 0) idle = 0;

  // Hard watchdog: whatever happens, the program ends.
  signal(SIGALRM, watchdog);
  double limit = (seconds > 0 ? seconds : 0) + 60;
  struct itimerval timer = {.it_value = {.tv_sec = (time_t)limit,
                                         .tv_usec = (suseconds_t)((limit - (double)(time_t)limit) * 1e6)}};
  setitimer(ITIMER_REAL, &timer, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  if (is_rr || is_stream || is_scaling) {
    struct conns idle_conns = {0}, busy = {0};
    if (is_scaling) open_many(&idle_conns, (size_t)idle);
    open_many(&busy, is_scaling ? 1 : (size_t)connections);
    line("started\n");
    double cpu0 = cpu_seconds();
    uint64_t requests = 0, bytes = 0;
    double elapsed;
    if (is_stream) {
      stream(&busy, seconds, &bytes, &elapsed);
    } else {
      rr(&busy, seconds, &requests, &elapsed);
      bytes = requests * MESSAGE;
    }
    double cpu = cpu_seconds() - cpu0;
    report(requests, bytes, elapsed, !is_stream, cpu);
    close_all(&idle_conns);
    close_all(&busy);
  } else if (is_churn) {
    line("started\n");
    double cpu0 = cpu_seconds();
    uint64_t requests = 0;
    double elapsed;
    churn((size_t)connections, seconds, &requests, &elapsed);
    double cpu = cpu_seconds() - cpu0;
    report(requests, requests * MESSAGE, elapsed, 0, cpu);
  } else {
    struct conns conns = {0};
    open_many(&conns, (size_t)idle);
    line("ready\n");
    wait_for_line();
    report(0, 0, 0, 0, 0);
    close_all(&conns);
  }
  return 0;
}
