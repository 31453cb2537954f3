package cli_test

import (
	"runtime/debug"
	"testing"

	"github.com/planetdeps/planet/internal/cli"
)

func TestResolveBuild(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T15:04:05Z"},
	}
	tests := []struct {
		name  string
		build cli.BuildInfo
		info  *debug.BuildInfo
		want  cli.BuildInfo
	}{
		{"go install @version", cli.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			&debug.BuildInfo{Main: debug.Module{Path: "github.com/planetdeps/planet", Version: "v1.4.0"}},
			cli.BuildInfo{Version: "v1.4.0", Commit: "none", Date: "unknown"}},
		{"go build in a checkout", cli.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260102150405-0123456789ab"}, Settings: vcs},
			cli.BuildInfo{Version: "v0.0.0-20260102150405-0123456789ab", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T15:04:05Z"}},
		{"no module version", cli.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"},
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			cli.BuildInfo{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T15:04:05Z"}},
		{"stamped by the release", cli.BuildInfo{Version: "1.5.0", Commit: "abc", Date: "2026-03-01T00:00:00Z"},
			&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs},
			cli.BuildInfo{Version: "1.5.0", Commit: "abc", Date: "2026-03-01T00:00:00Z"}},
		{"no build info", cli.BuildInfo{}, nil, cli.BuildInfo{Version: "dev", Commit: "none", Date: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cli.ResolveBuild(tt.build, tt.info); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
