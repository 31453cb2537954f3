package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/planetdeps/planet/internal/testenv"
)

// TestNodeExporterTextfile is the cron path end to end: WriteTextfileDir into
// the textfile directory of a real node_exporter, scrape it, and find every
// planet line exactly as written, with no textfile scrape error.
func TestNodeExporterTextfile(t *testing.T) {
	bin := testenv.NeedCommand(t, "prometheus-node-exporter", "prometheus-node-exporter")
	if testing.Short() {
		t.Skip("starts node_exporter")
	}
	dir := t.TempDir()
	base := testenv.StartNodeExporter(t, bin, dir)

	// Controls, or passing proves nothing. A file node_exporter cannot
	// parse shows as node_textfile_scrape_error 1. A duplicate series does
	// not: node_exporter logs it and silently serves one of the two, which
	// is why the fixtures' served lines are compared with the file exactly.
	t.Run("control", func(t *testing.T) {
		write := func(content string) string {
			t.Helper()
			if err := os.WriteFile(filepath.Join(dir, TextfileName), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			return testenv.HTTPGet(t, base+"/metrics")
		}
		if scrape := write("planet_upstream{port=\"1} 1\n"); !strings.Contains(scrape, "\nnode_textfile_scrape_error 1\n") {
			t.Errorf("node_exporter accepted a broken file:\n%s", grep(scrape, "node_textfile"))
		}
		dup := "# HELP planet_upstream x\n# TYPE planet_upstream gauge\nplanet_upstream{port=\"1\"} 1\nplanet_upstream{port=\"1\"} 2\n"
		if scrape := write(dup); strings.Count(scrape, "\nplanet_upstream{") != 1 {
			t.Errorf("node_exporter 1.5 was expected to drop one of two duplicate series:\n%s", grep(scrape, "planet_"))
		}
	})

	for _, fx := range fixtures {
		t.Run(fx.Name, func(t *testing.T) {
			s := fx.Snap()
			if err := WriteTextfileDir(dir, s); err != nil {
				t.Fatal(err)
			}
			want := textfileFor(t, s)
			scrape := testenv.HTTPGet(t, base+"/metrics")

			var got []string
			for _, line := range strings.SplitAfter(scrape, "\n") {
				if strings.HasPrefix(line, "planet_") || strings.HasPrefix(line, "# HELP planet_") || strings.HasPrefix(line, "# TYPE planet_") {
					got = append(got, line)
				}
			}
			if g := strings.Join(got, ""); g != string(want) {
				t.Errorf("node_exporter serves the planet series differently from the file.\n--- served:\n%s\n--- file:\n%s", g, want)
			}
			if !strings.Contains(scrape, "\nnode_textfile_scrape_error 0\n") {
				t.Errorf("node_textfile_scrape_error is not 0:\n%s", grep(scrape, "node_textfile"))
			}
			if !strings.Contains(scrape, `node_textfile_mtime_seconds{file="`) {
				t.Errorf("node_exporter did not read %s:\n%s", TextfileName, grep(scrape, "node_textfile"))
			}
		})
	}
}

func grep(text, substr string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.Contains(line, substr) {
			b.WriteString(line)
		}
	}
	return b.String()
}
