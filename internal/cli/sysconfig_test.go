package cli

// The package's tests (and the planet they re-execute through testscript)
// never read the machine's own config: on a host with planet installed,
// /etc/planet/planet.yaml names a textfile-dir, and a test's scan would
// replace that host's planet.prom. Tests of the lookup point systemConfig
// where they need it (noSystemConfig).
func init() { systemConfig = "/nonexistent/planet-test/planet.yaml" }
