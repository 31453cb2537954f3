//go:build e2e

package render

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetdeps/planet/graph"
	"github.com/planetdeps/planet/internal/testenv"
)

// mermaidJSDefault is where scripts/test.sh installs Mermaid from npm
// (npm install --prefix /usr/local/lib/planet-test-tools mermaid@11).
// PLANET_MERMAID_JS names another mermaid.min.js.
const mermaidJSDefault = "/usr/local/lib/planet-test-tools/node_modules/mermaid/dist/mermaid.min.js"

// needMermaid returns the paths of a headless-capable Chromium and of
// Mermaid's browser bundle, or skips.
func needMermaid(t *testing.T) (chromium, js string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a headless Chromium")
	}
	chromium = testenv.NeedCommand(t, "chromium", "chromium")
	js = os.Getenv("PLANET_MERMAID_JS")
	if js == "" {
		js = mermaidJSDefault
	}
	if _, err := os.Stat(js); err != nil {
		testenv.Unavailable(t, "Mermaid not found (%v): npm install --prefix /usr/local/lib/planet-test-tools mermaid@11 (scripts/test.sh does, as root), or set PLANET_MERMAID_JS", err)
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(js), "..", "package.json")); err == nil {
		var pkg struct{ Version string }
		if json.Unmarshal(b, &pkg) == nil {
			t.Logf("mermaid %s", pkg.Version)
		}
	}
	return chromium, js
}

// mermaidDrawn is what Mermaid drew for one diagram: its error, or each
// node's label (by node id, n0, n1...) and every edge label, as the text a
// reader sees, whitespace folded.
type mermaidDrawn struct {
	Error string            `json:"error"`
	Nodes map[string]string `json:"nodes"`
	Edges []string          `json:"edges"`
	// Clusters counts the subgraphs drawn.
	Clusters int `json:"clusters"`
}

// mermaidConfigs are the configurations every diagram is drawn with:
// Mermaid's defaults (HTML labels) and SVG text labels.
var mermaidConfigs = []string{"default", "htmlLabels-false"}

// drawMermaid renders each diagram with the real Mermaid in a headless
// Chromium (a local page, no network) under every configuration of
// mermaidConfigs, and returns what was drawn, by configuration.
func drawMermaid(t *testing.T, diagrams []string) map[string][]mermaidDrawn {
	t.Helper()
	chromium, js := needMermaid(t)
	src, err := json.Marshal(diagrams) // escapes <, > and &: safe in a script
	if err != nil {
		t.Fatal(err)
	}
	page := `<!doctype html><html><head><meta charset="utf-8"><script src="` +
		html.EscapeString((&urlPath{js}).String()) + `"></script></head><body><pre id="out">pending</pre><script>
const diagrams = ` + string(src) + `;
const configs = {
  "default": {startOnLoad: false},
  "htmlLabels-false": {startOnLoad: false, htmlLabels: false, flowchart: {htmlLabels: false}},
};
function fold(s) { return s.replace(/\s+/g, " ").trim(); }
function label(g) {
  const c = g.cloneNode(true);
  c.querySelectorAll("br").forEach(b => b.replaceWith("\n"));
  const rows = c.querySelectorAll("tspan.text-outer-tspan");
  if (rows.length) return fold([...rows].map(r => r.textContent).join("\n"));
  return fold(c.textContent);
}
(async () => {
  const out = {};
  try {
    let k = 0;
    for (const [name, cfg] of Object.entries(configs)) {
      mermaid.initialize(cfg);
      out[name] = [];
      for (const d of diagrams) {
        const r = {nodes: {}, edges: []};
        try {
          const {svg} = await mermaid.render("d" + (k++), d);
          const div = document.createElement("div");
          div.innerHTML = svg;
          document.body.appendChild(div);
          for (const g of div.querySelectorAll("g.node")) {
            const m = /flowchart-(n\d+)-\d+$/.exec(g.id);
            r.nodes[m ? m[1] : g.id] = label(g);
          }
          for (const g of div.querySelectorAll("g.edgeLabel")) r.edges.push(label(g));
          r.clusters = div.querySelectorAll("g.cluster").length;
          div.remove();
        } catch (e) {
          r.error = String(e && e.message || e);
        }
        out[name].push(r);
      }
    }
  } catch (e) {
    out.error = String(e);
  }
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>`
	dir := t.TempDir()
	pagePath := filepath.Join(dir, "page.html")
	if err := os.WriteFile(pagePath, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--allow-file-access-from-files",
		"--virtual-time-budget=120000", "--dump-dom", (&urlPath{pagePath}).String())
	// chromium writes crash-report settings and dconf state under the home
	// directory whatever --user-data-dir says: a test writes only to its
	// temp dir.
	home := filepath.Join(dir, "home")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`(?s)<pre id="out">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no result in chromium's DOM:\n%s\n%s", dom, stderr.String())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &out); err != nil {
		t.Fatalf("result %q: %v", m[1], err)
	}
	if e, ok := out["error"]; ok {
		t.Fatalf("mermaid: %s", e)
	}
	drawn := map[string][]mermaidDrawn{}
	for _, c := range mermaidConfigs {
		var d []mermaidDrawn
		if err := json.Unmarshal(out[c], &d); err != nil || len(d) != len(diagrams) {
			t.Fatalf("%s: %d results (%v), want %d", c, len(d), err, len(diagrams))
		}
		drawn[c] = d
	}
	return drawn
}

// urlPath is a file:// URL for an absolute path.
type urlPath struct{ path string }

func (u *urlPath) String() string {
	var b strings.Builder
	b.WriteString("file://")
	for _, c := range []byte(u.path) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
		}
	}
	return b.String()
}

// fold is the text a reader sees: whitespace runs as one space, trimmed
// (HTML shows no more).
func fold(s string) string { return strings.Join(strings.Fields(s), " ") }

// hostileGraph has a node for every non-empty hostile name (external ones
// every third, for the other shape) and a dependency from each to the
// next over a protocol of that name.
func hostileGraph(names []string) *graph.Graph {
	g := &graph.Graph{Schema: graph.Schema}
	var ids []string
	for i, n := range names {
		if n == "" {
			continue
		}
		kind := graph.KindHostgroup
		if i%3 == 2 {
			kind = graph.KindExternal
		}
		g.Nodes = append(g.Nodes, &graph.Node{ID: n, Kind: kind, HostCount: 1 + i%2})
		ids = append(ids, n)
	}
	for i := 0; i+1 < len(ids); i++ {
		g.Edges = append(g.Edges, &graph.Edge{From: ids[i], To: ids[i+1], Protocol: ids[i], Port: uint16(i + 1), SeenFrom: graph.SeenBoth})
	}
	return g
}

// TestMermaidReal: every name comes out of real Mermaid (11.x, in a
// headless Chromium) as itself, in `render -f mermaid` and in the diff's
// Mermaid block, under Mermaid's default configuration and with SVG text
// labels. Known breaks: reserved words as node text (mermaid-js/mermaid#1444),
// and Mermaid's rewrite of any line holding "style", ':' and '#', which drops
// its last ';' ("lifestyle:eu(1)" showed as "lifestyle:eu(1#41").
func TestMermaidReal(t *testing.T) {
	g := hostileGraph(hostileNames)
	var render bytes.Buffer
	if err := Mermaid(&render, g, false); err != nil {
		t.Fatal(err)
	}
	d, _ := hostileDiff(hostileNames)
	var md bytes.Buffer
	if err := DiffMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)\n```mermaid\n(.*?)```\n").FindSubmatch(md.Bytes())
	if block == nil {
		t.Fatalf("no mermaid block in:\n%s", md.Bytes())
	}
	drawn := drawMermaid(t, []string{render.String(), string(block[1])})

	// render -f mermaid: node nK is the graph's K-th node, labelled with its
	// name and host count; each link with its proto/port.
	wantNodes := map[string]string{}
	for i, n := range g.Nodes {
		wantNodes["n"+strconv.Itoa(i)] = fold(display(n.ID) + " " + hostCount(n.HostCount))
	}
	var wantEdges []string
	for _, e := range g.Edges {
		wantEdges = append(wantEdges, fold(portLabel(e)))
	}
	// The diff's block: node labels are the names of both ends of every
	// added and changed dependency.
	diffNodes := map[string]bool{}
	var diffEdges []string
	for _, e := range d.AddedEdges {
		diffNodes[fold(display(e.From))], diffNodes[fold(display(e.To))] = true, true
		diffEdges = append(diffEdges, fold(display(e.Protocol)+"/"+strconv.Itoa(int(e.Port))))
	}
	for _, c := range d.ChangedEdges {
		k := c.Key()
		diffNodes[fold(display(k.From))], diffNodes[fold(display(k.To))] = true, true
		diffEdges = append(diffEdges, fold(display(k.Protocol)+"/"+strconv.Itoa(int(k.Port))))
	}

	for _, c := range mermaidConfigs {
		t.Run(c, func(t *testing.T) {
			r := drawn[c][0]
			if r.Error != "" {
				t.Fatalf("render -f mermaid: Mermaid refused the diagram: %s", r.Error)
			}
			for id, want := range wantNodes {
				if got, ok := r.Nodes[id]; !ok {
					t.Errorf("render -f mermaid: node %s (%q) not drawn", id, want)
				} else if why := mermaidCannot(c, want); why != "" {
					t.Logf("render -f mermaid: node %s shows %q for %q: %s", id, got, want, why)
				} else if got != want {
					t.Errorf("render -f mermaid: node %s shows %q, want %q", id, got, want)
				}
			}
			if len(r.Nodes) != len(wantNodes) {
				t.Errorf("render -f mermaid: %d nodes drawn, want %d", len(r.Nodes), len(wantNodes))
			}
			checkEdges(t, "render -f mermaid", c, r.Edges, wantEdges)

			r = drawn[c][1]
			if r.Error != "" {
				t.Fatalf("diff block: Mermaid refused the diagram: %s", r.Error)
			}
			got := map[string]bool{}
			for _, l := range r.Nodes {
				got[l] = true
			}
			for l := range diffNodes {
				if why := mermaidCannot(c, l); why != "" {
					t.Logf("diff block: %q: %s", l, why)
				} else if !got[l] {
					t.Errorf("diff block: %q not drawn", l)
				}
			}
			if len(r.Nodes) != len(diffNodes) {
				t.Errorf("diff block: %d nodes drawn, want %d", len(r.Nodes), len(diffNodes))
			}
			checkEdges(t, "diff block", c, r.Edges, diffEdges)
		})
	}
}

// mermaidCannot says why Mermaid cannot show label exactly in config c,
// or "". Mermaid's entity pass marks entities with "ﬂ°" and "¶ß" and turns
// those back into '&' and ';' wherever they are, so a name holding them
// cannot survive in any form. A label Mermaid would rescan (\n, an icon
// name, $$) is written without a tag, so SVG labels show its entity codes
// (see mermaidLabel).
func mermaidCannot(c, label string) string {
	if strings.Contains(label, "ﬂ°") || strings.Contains(label, "¶ß") {
		return "Mermaid's own entity markers (known, not checked)"
	}
	if c == "htmlLabels-false" && mermaidRescanned.MatchString(label) {
		return "SVG labels show entity codes for a label Mermaid would rescan (known, not checked)"
	}
	return ""
}

// checkEdges compares edge labels, those mermaidCannot show aside; in SVG
// labels (htmlLabels: false) Mermaid never decodes entity codes, so only
// labels that need none are compared there.
func checkEdges(t *testing.T, what, c string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d edge labels, want %d", what, len(got), len(want))
	}
	left := slices.Clone(got)
	for _, w := range want {
		if mermaidCannot(c, w) != "" || c == "htmlLabels-false" && mermaidText(w) != w {
			continue
		}
		if i := slices.Index(left, w); i >= 0 {
			left = slices.Delete(left, i, i+1)
		} else {
			t.Errorf("%s: no edge label shows %q", what, w)
		}
	}
	if t.Failed() {
		t.Logf("%s: edge labels drawn: %q", what, sorted(got))
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestMermaidRealDrawing: the drawing's own constructs come out of real
// Mermaid: process pairs and bytes each way on links, the note of folded
// infrastructure (service fleet, 52 hostgroups), folded external peers,
// and render --diff's marks.
func TestMermaidRealDrawing(t *testing.T) {
	var fleetMmd bytes.Buffer
	if err := Mermaid(&fleetMmd, serviceFleet(t, 10), false); err != nil {
		t.Fatal(err)
	}
	g := mustMerge(t, fleet()...)
	old := partOf(t, g, g.Nodes, g.Edges[1:])
	diffed, marks, err := withDiff(old, &Input{Name: "old", Graph: g}, Filter{}, FormatMermaid, false)
	if err != nil {
		t.Fatal(err)
	}
	var diffMmd bytes.Buffer
	if err := mermaid(&diffMmd, diffed, marks, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diffMmd.String(), "classDef") || !strings.Contains(fleetMmd.String(), "notes[") {
		t.Fatalf("fixtures lack the constructs under test:\n%s\n%s", fleetMmd.String(), diffMmd.String())
	}
	drawn := drawMermaid(t, []string{fleetMmd.String(), diffMmd.String()})
	for _, c := range mermaidConfigs {
		for i, r := range drawn[c] {
			if r.Error != "" {
				t.Fatalf("%s: diagram %d refused: %s", c, i, r.Error)
			}
		}
		if c != "default" {
			continue // SVG labels show entity codes for edge labels (see mermaidLabel)
		}
		r := drawn[c][0]
		if r.Clusters != 11 {
			t.Errorf("%s: %d clusters drawn, want 11 (10 teams, infra)", c, r.Clusters)
		}
		if !slices.Contains(r.Edges, "tcp/5432 java → postgres → 667.6 MiB ← 2.0 GiB since open") {
			t.Errorf("%s: no link shows its processes and bytes: %q", c, r.Edges)
		}
		found := false
		for _, l := range r.Nodes {
			found = found || strings.Contains(l, "udp/53 (DNS, unbound): 52 nodes → infra-dns")
		}
		if !found {
			t.Errorf("%s: no node shows the infrastructure note: %q", c, r.Nodes)
		}
	}
}
