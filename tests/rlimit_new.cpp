// rlimit_new.cpp — C++ allocation when the OS refuses memory (RLIMIT_AS).
//
// With the purge thread running and the soft RLIMIT_AS at the current
// address space plus 128 MiB: new char[] of small, large and huge sizes
// throws std::bad_alloc once the headroom is used up (and goes on throwing,
// no crash); nothrow new returns nullptr; aligned new (64 B .. 2 MiB)
// throws, its nothrow form returns nullptr; std::vector growth throws and
// keeps its elements (strong guarantee); std::string growth throws; a
// new_handler that releases a reserve block lets the failing new succeed,
// and one that uninstalls itself makes it throw. After everything is
// deleted, the same amount can be allocated again. Linked with -lhakmem.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "oom.h"

// Keep the optimiser from pairing up or eliding new and delete.
template <class T> static T *keep(T *p) {
  asm volatile("" : "+r"(p));
  return p;
}
static std::size_t opaque(std::size_t n) {
  asm volatile("" : "+r"(n));
  return n;
}

// Blocks from new char[] on a list threaded through themselves.
struct Node {
  Node *next;
  std::size_t size;
};

// new char[size] until it throws; returns the bytes obtained.
static std::size_t fill_new(std::size_t size, Node **list) {
  std::size_t got = 0;
  for (;;) {
    char *p;
    try {
      p = keep(new char[opaque(size)]);
    } catch (const std::bad_alloc &) {
      break;
    }
    CHECKF(hak_owns(p), "new char[%zu] = %p is not hakmem's", size, (void *)p);
    Node *n = reinterpret_cast<Node *>(p);
    n->next = *list;
    n->size = size;
    p[size - 1] = 'z';
    *list = n;
    got += size;
  }
  // it keeps failing, cleanly
  int thrown = 0;
  for (int i = 0; i < 3; i++) {
    try {
      delete[] keep(new char[opaque(size)]);
    } catch (const std::bad_alloc &) {
      thrown++;
    }
  }
  CHECKF(thrown >= 2, "new char[%zu] failed once, then succeeded %d of 3 times", size, 3 - thrown);
  return got;
}

static void free_new(Node **list) {
  for (Node *n = *list; n != nullptr;) {
    Node *next = n->next;
    char *p = reinterpret_cast<char *>(n);
    CHECK(p[n->size - 1] == 'z');
    delete[] p;
    n = next;
  }
  *list = nullptr;
}

static void while_full() {
  // nothrow forms return nullptr, throwing forms throw
  char *c = new (std::nothrow) char[opaque(8 * MiB)];
  CHECK(c == nullptr);
  delete[] c;
  for (std::size_t a : {std::size_t(64), std::size_t(4096), std::size_t(1) << 21}) {
    std::align_val_t al{a};
    void *q = ::operator new(opaque(4 * MiB), al, std::nothrow);
    CHECKF(q == nullptr, "aligned(%zu) nothrow new succeeded", a);
    ::operator delete(q, al);
    int thrown = 0;
    try {
      void *p = keep(::operator new(opaque(4 * MiB), al));
      ::operator delete(p, al);
    } catch (const std::bad_alloc &) {
      thrown = 1;
    }
    CHECKF(thrown, "aligned(%zu) new of 4 MiB did not throw while full", a);
  }
  // a vector that cannot grow keeps its elements
  {
    std::vector<long> v;
    bool threw = false;
    try {
      for (long i = 0;; i++) v.push_back(i * 3);
    } catch (const std::bad_alloc &) {
      threw = true;
    }
    CHECK(threw);
    bool ok = true;
    for (std::size_t i = 0; i < v.size(); i++) ok &= v[i] == long(i) * 3;
    CHECKF(ok, "vector elements damaged by a failed growth (%zu elements)", v.size());
  }
  // nor can a string (if it can be made at all)
  std::size_t len = 0;
  bool threw = false;
  try {
    std::string s(1000, 'x');
    try {
      for (;;) s += s;
    } catch (...) {
      len = s.size();
      CHECK(s[0] == 'x' && s[s.size() - 1] == 'x');
      throw;
    }
  } catch (const std::bad_alloc &) {
    threw = true;
  } catch (const std::length_error &) {
    threw = true;
  }
  CHECKF(threw, "string growth to %zu bytes did not throw", len);
}

static char *reserve;
static int handler_calls;
static void release_reserve() {
  handler_calls++;
  if (reserve != nullptr) {
    delete[] reserve;
    reserve = nullptr;
  } else {
    std::set_new_handler(nullptr); // nothing left: the next failure throws
  }
}

static void new_handler_reserve() {
  // a program's classic emergency reserve, released by its new_handler
  reserve = keep(new char[opaque(1 * MiB)]);
  std::memset(reserve, 1, 1 * MiB);
  set_headroom(64 * MiB);
  Node *l = nullptr;
  fill_new(100, &l);
  fill_new(1 * MiB, &l);
  handler_calls = 0;
  std::set_new_handler(release_reserve);
  char *p = nullptr;
  try {
    p = keep(new char[opaque(1 * MiB)]);
  } catch (const std::bad_alloc &) {
    p = nullptr;
  }
  CHECKF(p != nullptr, "new char[1 MiB] failed though the new_handler released a 1 MiB reserve");
  CHECKF(handler_calls == 1, "new_handler called %d times, want 1", handler_calls);
  int thrown = 0;
  try {
    delete[] keep(new char[opaque(1 * MiB)]);
  } catch (const std::bad_alloc &) {
    thrown = 1;
  }
  CHECK(thrown == 1);
  CHECKF(handler_calls == 2, "new_handler called %d times, want 2", handler_calls);
  std::set_new_handler(nullptr);
  delete[] p;
  free_new(&l);
  delete[] reserve;
  lift_limit();
}

int main() {
  void *probe = keep(::operator new(10));
  if (!hak_owns(probe)) {
    std::fprintf(stderr, "FATAL: operator new is not served by hakmem\n");
    return 1;
  }
  ::operator delete(probe);
  CHECKF(start_purge_thread(), "the purge thread did not start");
  const std::size_t headroom = 128 * MiB;
  set_headroom(headroom);
  const std::size_t sizes[] = {40, 5000, 1 * MiB, 16 * MiB};
  for (std::size_t size : sizes) {
    Node *l = nullptr;
    std::size_t got = fill_new(size, &l);
    CHECKF(got >= headroom / 2, "new char[%zu]: only %zu MiB in %zu MiB", size, got / MiB, headroom / MiB);
    fill_new(64, &l); // what is left, if anything
    while_full();
    free_new(&l);
    std::size_t again = fill_new(size, &l);
    std::printf("new char[%zu]: %zu MiB, then after deleting %zu MiB\n", size, got / MiB, again / MiB);
    CHECKF(again >= got - got / 10, "new char[%zu]: %zu MiB, after deleting only %zu MiB", size, got / MiB,
           again / MiB);
    free_new(&l);
    hak_collect(); // the caches: known/rlimit_caches.c
  }
  lift_limit();
  new_handler_reserve();
  // and with no limit, all is well
  std::vector<char> big(opaque(200 * MiB), 'q');
  CHECK(big[0] == 'q' && big[big.size() - 1] == 'q');
  return check_exit("rlimit-cxx");
}
