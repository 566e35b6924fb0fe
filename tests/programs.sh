#!/usr/bin/env bash
# tests/programs.sh — real programs give the same output with hakmem preloaded.
#   tests/programs.sh [sort|python|perl|git|sqlite|gcc|xz|zstd|pytests]...   (default: all)
# Environment: LIB = path of libhakmem.so (default build/libhakmem.so).
#
# Each program runs twice on the same input: plainly, and with
# LD_PRELOAD=<absolute path of LIB> and HAKMEM_STATS_FILE. The plain run must
# succeed; outputs (stdout and stderr) and exit statuses must be identical, and the stats file must hold a
# "hakmem: stats pid" block whose blocks_carved is > 0 — proof that hakmem,
# not glibc, served the run. Prints "FAIL: reason" and exits 1 on failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
LIB=${LIB:-$root/build/libhakmem.so}
[ -f "$LIB" ] || { echo "FAIL: library $LIB not found"; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB") # the loader ignores what it cannot open
unset LD_PRELOAD HAKMEM_STATS HAKMEM_STATS_FILE HAKMEM_PROFILE HAKMEM_INVALID_FREE
work=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-programs.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0

# proof STATSFILE NAME: at least one stats block with blocks_carved > 0
proof() {
  local f=$1 name=$2
  if [ ! -s "$f" ]; then echo "FAIL: $name: no stats written to HAKMEM_STATS_FILE: hakmem was not loaded"; return 1; fi
  local counts
  counts=$(awk '/^hakmem: stats pid/ {blocks++} /^hakmem: blocks_carved / {if ($3 + 0 > 0) carved++}
                END {printf "%d %d", blocks, carved}' "$f")
  local blocks=${counts% *} carved=${counts#* }
  echo "$name: $blocks stats block(s), $carved with blocks_carved > 0"
  local bad
  bad=$(grep -cvE '^hakmem: (stats pid [0-9]+( .*)?|[a-z_]+ [0-9]+|class [0-9]+ blocks [0-9]+ pages [0-9]+ committed [0-9]+)$' "$f")
  if [ "$bad" -ne 0 ]; then
    echo "FAIL: $name: $bad malformed line(s) in the stats file (blocks interleaved?):"
    grep -vE '^hakmem: (stats pid [0-9]+( .*)?|[a-z_]+ [0-9]+|class [0-9]+ blocks [0-9]+ pages [0-9]+ committed [0-9]+)$' "$f" | head -n 5
    return 1
  fi
  if [ "$blocks" -lt 1 ] || [ "$carved" -lt 1 ]; then
    echo "FAIL: $name: no stats block with blocks_carved > 0 in $f:"
    head -n 30 "$f"
    return 1
  fi
}

# same NAME CMD...: run CMD plainly and under hakmem; compare output and status
same() {
  local name=$1
  shift
  local plain=$work/$name.plain hak=$work/$name.hak stats=$work/$name.stats
  "$@" >"$plain" 2>&1
  local rc_plain=$?
  LD_PRELOAD=$LIB HAKMEM_STATS_FILE=$stats "$@" >"$hak" 2>&1
  local rc_hak=$?
  if [ $rc_plain -ne 0 ]; then
    echo "FAIL: $name: exit status $rc_plain even without hakmem: the test itself is broken"
    tail -n 5 "$plain"
    return 1
  fi
  if [ $rc_plain -ne $rc_hak ]; then
    echo "FAIL: $name: exit status $rc_plain without hakmem, $rc_hak with it"
    tail -n 5 "$hak"
    return 1
  fi
  if ! cmp -s "$plain" "$hak"; then
    echo "FAIL: $name: output differs under hakmem ($(wc -c <"$plain") vs $(wc -c <"$hak") bytes)"
    diff "$plain" "$hak" | head -n 20
    return 1
  fi
  echo "$name: identical output ($(wc -c <"$plain") bytes), exit $rc_plain"
  proof "$stats" "$name"
}

t_sort() {
  # 200k lines from a seeded generator
  awk 'BEGIN { srand(42); for (i = 0; i < 200000; i++) {
         w = ""; n = int(rand() * 12) + 1
         for (j = 0; j < n; j++) w = w substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 26) + 1, 1)
         printf "%d %s %d\n", int(rand() * 1000000), w, i } }' >"$work/sort.in"
  same sort-plain env LC_ALL=C sort "$work/sort.in" || return 1
  # several keys, 2 threads, a tiny buffer: temporary files and merges
  mkdir -p "$work/sorttmp"
  same sort-keys env LC_ALL=C sort -k2,2 -k1,1nr --parallel=2 -S 256K -T "$work/sorttmp" "$work/sort.in" || return 1
  same sort-unique env LC_ALL=C sort -u -r -k2,2 "$work/sort.in" || return 1
}

t_python() {
  local py=/usr/bin/python3
  [ -x "$py" ] || py=$(command -v python3) || { echo "FAIL: python3 not found"; return 1; }
  cat >"$work/alloc.py" <<'PY'
import collections, hashlib, json, random, re, threading
random.seed(1234)
d = {}
for i in range(200000):
    d.setdefault("key%d" % random.randrange(50000), []).append(i)
items = sorted(d.items(), key=lambda kv: (len(kv[1]), kv[0]))
text = json.dumps(items[:3000])
back = json.loads(text)
assert back[0][0] == items[0][0]
print(len(d), len(text), hashlib.sha256(text.encode()).hexdigest())
blobs = [bytes(random.randrange(256) for _ in range(random.randrange(1, 3000))) for _ in range(2000)]
print(hashlib.sha256(b"".join(blobs)).hexdigest())
words = re.findall(r"[a-z]+", " ".join("".join(random.choice("abcdefgh ") for _ in range(50)) for _ in range(20000)))
print(collections.Counter(words).most_common(5))
big = []
for i in range(50):
    big.append(bytearray(random.randrange(100000, 3000000)))
    if i % 3 == 0:
        big.pop(0)
print(sum(len(b) for b in big))
results = [None] * 4
def work(k):
    r = random.Random(k)
    acc = {}
    for i in range(50000):
        acc[r.randrange(5000)] = str(i) * (i % 7)
    results[k] = sum(len(v) for v in acc.values())
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(results)
class Node:
    __slots__ = ("v", "next")
    def __init__(self, v, nxt): self.v = v; self.next = nxt
head = None
for i in range(300000): head = Node(i, head)
n = 0
while head: n += head.v; head = head.next
print(n)
PY
  same python env PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$py" -s "$work/alloc.py"
}

t_perl() {
  same perl env PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 perl -e '
    my %h; my $x = 1;
    for my $i (1 .. 300000) {
      $x = ($x * 1103515245 + 12345) % 2147483648;
      $h{"k" . ($x % 70000)} .= chr(97 + $x % 26) x (1 + $x % 7);
      delete $h{"k" . (($x >> 3) % 70000)} if $i % 3 == 0;
    }
    my ($n, $len) = (0, 0);
    for (sort keys %h) { $n++; $len += length $h{$_} }
    my @a = map { join ",", ($_) x 10 } 1 .. 20000;
    my $s = join "|", reverse @a;
    my %w; $w{$_}++ for split /[,|]/, $s;
    my $big = "x" x 5_000_000; $big =~ s/x{1000}/y/g;
    print "$n $len ", length($s), " ", scalar(keys %w), " ", length($big), "\n";'
}

git_script() {
  local dir=$1
  mkdir -p "$dir" && cd "$dir" || return 1
  export HOME=$dir GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  export GIT_AUTHOR_NAME="Hak Test" GIT_AUTHOR_EMAIL=hak@example.com
  export GIT_COMMITTER_NAME="Hak Test" GIT_COMMITTER_EMAIL=hak@example.com
  export GIT_AUTHOR_DATE="2020-01-02T03:04:05Z" GIT_COMMITTER_DATE="2020-01-02T03:04:05Z"
  git init -q -b main repo && cd repo || return 1
  awk 'BEGIN { for (i = 1; i <= 200; i++) { f = "f" i ".txt"
         for (j = 0; j < i * 5; j++) print "file", i, "line", j, (i * j) % 97 > f
         close(f) } }'
  mkdir -p sub/deeper && seq 1 5000 >sub/deeper/numbers.txt
  git add -A && git commit -q -m "initial import" || return 1
  awk 'BEGIN { for (i = 3; i <= 200; i += 3) { f = "f" i ".txt"; print "changed", i >> f; close(f) } }'
  git commit -q -a -m "second: touch every third file" || return 1
  git mv f1.txt sub/moved.txt && git rm -q f2.txt && seq 5000 -1 1 >sub/deeper/numbers.txt
  git commit -q -a -m "third: move, remove, rewrite" || return 1
  git tag v1
  git log --stat --format='%H %an <%ae> %ad %s' --date=iso
  git log -p --format=%H | cksum
  git diff --stat HEAD~2 HEAD
  git gc -q || return 1
  git fsck --full --no-progress || return 1
  git count-objects -v | grep -E '^(count|in-pack|packs):'
  git rev-list --all --objects | sort | cksum
  git cat-file -p "HEAD^{tree}" | head -n 5
  git describe --tags
  git blame -s sub/deeper/numbers.txt | tail -n 2
}
t_git() {
  # each run in its own directory ($$ of the inner shell)
  same git bash -c "$(declare -f git_script); git_script \"\$1/\$\$\"" _ "$work/git"
}

# a seeded text of words, N lines (about 43 bytes each)
words() {
  awk -v n="$1" 'BEGIN { srand(7)
    split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon", w, " ")
    for (i = 0; i < n; i++) { k = 3 + int(rand() * 9); line = i
      for (j = 0; j < k; j++) line = line " " w[1 + int(rand() * 20)]
      print line } }'
}

t_sqlite() {
  command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 not found (apt-get install sqlite3)"; return 1; }
  # a generated workload: 15,000 single-row INSERTs of varied text, a bulk
  # insert of 60,000 rows with blobs, index builds, UPDATE/DELETE, joins,
  # GROUP BY with group_concat (long strings), a window function, JSON,
  # an integrity check and VACUUM
  {
    echo "PRAGMA page_size = 4096;"
    echo "CREATE TABLE words(id INTEGER PRIMARY KEY, w TEXT, n INTEGER);"
    echo "BEGIN;"
    words 15000 | awk '{ printf "INSERT INTO words(w, n) VALUES (%c%s%c, %d);\n", 39, $0, 39, NF }'
    echo "COMMIT;"
    cat <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, payload BLOB);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO t SELECT x, (x * 7919) % 10007, printf('name-%d-%s', x, substr('abcdefghijklmnop', 1 + x % 16)),
                     zeroblob(x % 700) FROM c;
COMMIT;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
CREATE INDEX words_n ON words(n, w);
UPDATE t SET name = name || '-updated-' || k WHERE k % 3 = 0;
DELETE FROM t WHERE k % 11 = 0;
SELECT k % 100, count(*), sum(length(name)), sum(length(payload)) FROM t GROUP BY k % 100 ORDER BY 1 LIMIT 12;
CREATE TABLE g AS SELECT k, group_concat(name, ',') AS names FROM t GROUP BY k;
SELECT count(*), sum(length(names)), max(length(names)) FROM g;
SELECT a.k, count(*), max(length(b.names)) FROM t a JOIN g b ON a.k = b.k WHERE a.id % 997 = 0 GROUP BY a.k ORDER BY a.k LIMIT 15;
SELECT n, count(*), min(w), max(w) FROM words GROUP BY n ORDER BY n;
SELECT id, sum(k) OVER (ORDER BY id ROWS BETWEEN 50 PRECEDING AND CURRENT ROW) FROM t WHERE id % 7001 = 1;
SELECT length(json_group_array(json_object('id', id, 'k', k, 'name', name))) FROM t WHERE id < 3000;
SELECT w FROM words WHERE w LIKE '%kappa lambda%' ORDER BY length(w) DESC, id LIMIT 5;
PRAGMA integrity_check;
VACUUM;
SELECT count(*), sum(k), (SELECT count(*) FROM words) FROM t;
SQL
  } >"$work/workload.sql"
  same sqlite sh -c 'd=$1/sqlite.$$; rm -rf "$d"; mkdir "$d" &&
    sqlite3 -batch -bail -init /dev/null "$d/db" <"$1/workload.sql"; rc=$?; rm -rf "$d"; exit $rc' _ "$work"
}

t_gcc() {
  command -v gcc >/dev/null && command -v make >/dev/null || { echo "FAIL: gcc or make not found"; return 1; }
  # a generated project: 10 C files of 30 functions each, a header, a main
  # that calls them all and prints the result; built by make -j2 at -O2
  local src=$work/gccsrc
  mkdir -p "$src"
  awk -v dir="$src" 'BEGIN {
    h = dir "/gen.h"
    print "long unit_sum(long x);" > h
    for (f = 0; f < 10; f++) {
      c = dir "/unit" f ".c"
      print "#include <stdio.h>" > c
      print "#include <string.h>" > c
      print "#include \"gen.h\"" > c
      printf "struct rec%d { long a, b; char name[24]; double w; };\n", f > c
      for (i = 0; i < 30; i++) {
        n = 4 + i % 7
        printf "long unit%d_fn%d(long x);\n", f, i > h
        printf "long unit%d_fn%d(long x) {\n", f, i > c
        printf "  struct rec%d r[%d];\n  char buf[64];\n  long s = x;\n", f, n > c
        printf "  for (int j = 0; j < %d; j++) {\n", n > c
        printf "    r[j].a = s * %d + j;\n    r[j].b = s ^ ((long)j << %d);\n", 3 + i, i % 5 > c
        printf "    snprintf(r[j].name, sizeof r[j].name, \"u%d-%%d\", j);\n", f > c
        printf "    r[j].w = (double)r[j].a / (j + 1.5);\n" > c
        printf "    s += r[j].a %% %d + (long)strlen(r[j].name) + (long)r[j].w %% 1000;\n  }\n", 97 + i > c
        printf "  snprintf(buf, sizeof buf, \"%%ld:%d\", s);\n", i > c
        printf "  return s %% 1000003 + (long)strlen(buf);\n}\n" > c
      }
      close(c)
    }
    close(h)
    m = dir "/main.c"
    print "#include <stdio.h>" > m
    print "#include \"gen.h\"" > m
    print "int main(void) {" > m
    print "  long t = 1;" > m
    for (f = 0; f < 10; f++)
      for (i = 0; i < 30; i++) printf "  t = (t + unit%d_fn%d(t)) %% 1000000007;\n", f, i > m
    print "  printf(\"%ld\\n\", t);" > m
    print "  return 0;" > m
    print "}" > m
    close(m)
    mk = dir "/Makefile"
    print "OBJS := $(patsubst %.c,%.o,$(wildcard *.c))" > mk
    print "prog: $(OBJS)" > mk
    print "\t$(CC) $(CFLAGS) -o $@ $(OBJS)" > mk
    print "%.o: %.c gen.h" > mk
    print "\t$(CC) $(CFLAGS) -c $< -o $@" > mk
  }'
  # the same build directory each time (its path could end up in the objects)
  same gcc sh -c 'b=$1/gccbuild; rm -rf "$b"; cp -r "$1/gccsrc" "$b" && cd "$b" &&
    make -s -j2 CC=gcc CFLAGS="-O2 -Wall" prog && ./prog && cksum prog *.o | sort -k3' _ "$work"
}

t_xz() {
  command -v xz >/dev/null || { echo "FAIL: xz not found (apt-get install xz-utils)"; return 1; }
  [ -f "$work/words.txt" ] || words 150000 >"$work/words.txt" # 6.5 MB
  same xz sh -c 'xz -T1 -2 -c "$1" | cksum' _ "$work/words.txt" || return 1
  # multi-threaded: 1 MiB blocks compressed by 2 threads, decompressed by 2
  same xz-T2 sh -c 'xz -T2 --block-size=1MiB -2 -c "$1" >"$1.$$.xz" && cksum <"$1.$$.xz" &&
    xz -T2 -dc "$1.$$.xz" | cksum; rc=$?; rm -f "$1.$$.xz"; exit $rc' _ "$work/words.txt"
}

t_zstd() {
  command -v zstd >/dev/null || { echo "FAIL: zstd not found (apt-get install zstd)"; return 1; }
  [ -f "$work/words.txt" ] || words 150000 >"$work/words.txt"
  same zstd sh -c 'zstd -q -T1 -12 -c "$1" | cksum' _ "$work/words.txt" || return 1
  same zstd-T2 sh -c 'zstd -q -T2 -9 --long=24 -c "$1" >"$1.$$.zst" && cksum <"$1.$$.zst" &&
    zstd -q -dc --long=24 "$1.$$.zst" | cksum; rc=$?; rm -f "$1.$$.zst"; exit $rc' _ "$work/words.txt"
}

t_pytests() {
  # a slice of CPython's own test suite (Debian: libpython3.11-testsuite),
  # every object through malloc; outcomes printed per test, sorted, without
  # timings
  local py=/usr/bin/python3
  [ -x "$py" ] || { echo "FAIL: /usr/bin/python3 not found"; return 1; }
  "$py" -c 'import test.test_json' 2>/dev/null ||
    { echo "FAIL: python's test suite is not installed (apt-get install libpython3.11-testsuite)"; return 1; }
  cat >"$work/pytests.py" <<'PY'
import sys, unittest
suite = unittest.defaultTestLoader.loadTestsFromNames(["test." + n for n in sys.argv[1:]])
class Outcomes(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.lines = []
    def addSuccess(self, t): self.lines.append((t.id(), "ok"))
    def addFailure(self, t, e): super().addFailure(t, e); self.lines.append((t.id(), "FAIL"))
    def addError(self, t, e): super().addError(t, e); self.lines.append((t.id(), "ERROR"))
    def addSkip(self, t, why): self.lines.append((t.id(), "skipped: " + why))
    def addExpectedFailure(self, t, e): self.lines.append((t.id(), "expected failure"))
    def addUnexpectedSuccess(self, t): self.lines.append((t.id(), "unexpected success"))
r = Outcomes()
suite.run(r)
for tid, what in sorted(r.lines): print(tid, what)
print(len(r.lines), "tests,", len(r.failures), "failures,", len(r.errors), "errors")
for t, tb in r.failures + r.errors: print(t.id(), tb, file=sys.stderr)
sys.exit(1 if r.failures or r.errors else 0)
PY
  same pytests env PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$py" -s "$work/pytests.py" \
    test_json test_re test_collections test_heapq test_bisect test_dict test_list test_string test_struct \
    test_textwrap test_difflib test_fractions test_ordered_dict
}

[ $# -eq 0 ] && set -- sort python perl git sqlite gcc xz zstd pytests
for p in "$@"; do
  case "$p" in
  sort|python|perl|git|sqlite|gcc|xz|zstd|pytests) "t_$p" || status=1 ;;
  *) echo "FAIL: unknown program '$p'"; status=1 ;;
  esac
done
exit $status
