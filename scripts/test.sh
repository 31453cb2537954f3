#!/usr/bin/env bash
# planet's whole test suite. Installs what the tests need (as root, through
# apt-get) and runs every test, the real-tool ones and the end-to-end ones
# under e2e/ (build tag e2e) included, then a short run of every fuzz target.
# A plain `go test ./...` leaves e2e/ out: it is the quick run. As a normal
# user the tests that need root or a missing package skip with a message; as root (CI) they must run: the suite
# sets PLANET_TEST_STRICT=1 so a missing prerequisite fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# fail a clean run with "context deadline exceeded" as the time runs out
# (golang/go#75804, fixed in Go 1.27). 50,000 inputs take 2-15 s a target here.
FUZZTIME=${PLANET_FUZZTIME:-50000x}
export PATH="$PATH:/usr/sbin:/sbin:$(go env GOPATH)/bin"

missing=()
for pair in tmux:tmux darkstat:darkstat dot:graphviz promtool:prometheus \
            prometheus-node-exporter:prometheus-node-exporter ip:iproute2 ss:iproute2 \
            setfacl:acl ansible-playbook:ansible cmark-gfm:cmark-gfm chromium:chromium npm:npm \
            rpm:rpm man:man-db losetup:mount rsvg-convert:librsvg2-bin tmux:tmux \
            iptables:iptables nsenter:util-linux unshare:util-linux; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ "$(id -u)" = 0 ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  fi
  # Mermaid for the render tests (render/mermaid_real_test.go), loaded from a
  # local page in the headless chromium above: from npm, pinned, no install
  # scripts run, no browser downloaded.
  mermaid_version=${PLANET_MERMAID_VERSION:-11.17.2}
  tools=/usr/local/lib/planet-test-tools
  if ! grep -qs "\"version\": \"$mermaid_version\"" "$tools/node_modules/mermaid/package.json"; then
    echo "test.sh: installing mermaid@$mermaid_version (npm) into $tools" >&2
    mkdir -p "$tools"
    npm install --prefix "$tools" --ignore-scripts --no-audit --no-fund --no-save "mermaid@$mermaid_version" >/dev/null
  fi
  export PLANET_TEST_STRICT=1
elif [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: not root, so not installing ${missing[*]}; tests that need them will skip" >&2
fi

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-formatted: $unformatted" >&2; exit 1; fi
go vet -tags e2e ./...
if ! command -v staticcheck >/dev/null 2>&1; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 >/dev/null 2>&1 || echo "test.sh: staticcheck unavailable, skipping it" >&2
fi
if command -v staticcheck >/dev/null 2>&1; then staticcheck -tags e2e ./...; fi

# The packaging tests build a .deb with goreleaser; installing it first keeps
# its (minutes-long, cold) build out of a test's timeout.
if [ "$(id -u)" = 0 ] && ! command -v goreleaser >/dev/null 2>&1; then
  echo "== installing goreleaser v2.15.1 (module proxy)"
  GOFLAGS=-buildvcs=false go install github.com/goreleaser/goreleaser/v2@v2.15.1
fi

echo "== go test"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
set +e
# The packaging tests install the .deb (its /etc/planet/planet.yaml, which
# every planet reads first, the planet user, an ACL on node_exporter's
# textfile directory) and remove it again: they run alone, after the other
# packages, so that no other test's planet reads that config meanwhile.
go test -tags e2e -count=1 -timeout 30m $(go list -tags e2e ./... | grep -v '/e2e/packaging$') 2>&1 | tee "$results"
rc=${PIPESTATUS[0]}
go test -tags e2e -count=1 -timeout 30m ./e2e/packaging 2>&1 | tee -a "$results"
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
set -e
[ "$rc" = 0 ] || { echo "packages: $(grep -c '^ok' "$results") passed, $(grep -c $'^FAIL\t' "$results") failed"; exit 1; }

echo "== race (the tests of graphs sharing parts, under -race)"
go test -race -count=1 -run 'Concurrent' ./graph ./render

echo "== fuzz (${FUZZTIME} per target)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    log=$(mktemp)
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"; exit 1
    fi
    rm -f "$log"
  done
done
echo "test.sh: every test and fuzz target passed"
echo "packages: $(grep -c '^ok' "$results") passed, 0 failed"
