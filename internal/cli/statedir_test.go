package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStateDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	userDefault := filepath.Join(cache, "planet")
	if os.Geteuid() == 0 {
		userDefault = rootStateDir
	}
	tests := []struct {
		named, env, want string
	}{
		{"/srv/planet", "/var/lib/planet", "/srv/planet"},
		{"none", "/var/lib/planet", ""},
		{"", "/var/lib/planet", "/var/lib/planet"},
		{"", "/var/lib/planet:/var/lib/other", "/var/lib/planet"}, // systemd lists several with ':'
		{"", "", userDefault},
	}
	for _, tt := range tests {
		t.Setenv("STATE_DIRECTORY", tt.env)
		if got := stateDir(tt.named); got != tt.want {
			t.Errorf("stateDir(%q) with STATE_DIRECTORY=%q = %q, want %q", tt.named, tt.env, got, tt.want)
		}
	}
}
