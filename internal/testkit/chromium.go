package testkit

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the Chromium binary for a browser test, or skips the test when there is none
// (fails it instead when TICKRELAY_BROWSER_TEST=require, as .ci/run sets).
func Chromium(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "chromium is not at /usr/bin/chromium nor in PATH (install it with apt-get install chromium)"
	if os.Getenv("TICKRELAY_BROWSER_TEST") == "require" {
		t.Fatal(msg + "; TICKRELAY_BROWSER_TEST=require, so the browser test cannot be skipped")
	}
	t.Skip(msg + "; skipping the browser test (set TICKRELAY_BROWSER_TEST=require to fail instead)")
	return ""
}
