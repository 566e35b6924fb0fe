#!/usr/bin/env bash
# tests/programs.sh — real programs give the same output with hakmem preloaded.
#   tests/programs.sh [sort|python|perl|git]...     (default: all four)
# Environment: LIB = path of libhakmem.so (default build/libhakmem.so).
#
# Each program runs twice on the same input: plainly, and with
# LD_PRELOAD=<absolute path of LIB> and HAKMEM_STATS_FILE. Outputs (stdout and
# stderr) and exit statuses must be identical, and the stats file must hold a
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

[ $# -eq 0 ] && set -- sort python perl git
for p in "$@"; do
  case "$p" in
  sort|python|perl|git) "t_$p" || status=1 ;;
  *) echo "FAIL: unknown program '$p'"; status=1 ;;
  esac
done
exit $status
