package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSubcommandsRefuseBadArguments(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.replay")
	cases := []struct {
		name string
		run  func([]string) error
		args []string
		want string
	}{
		{"record without -o", runRecord, []string{"-room", "arena"}, "-o FILE is required"},
		{"record with arguments", runRecord, []string{"-o", "x", "extra"}, "unexpected arguments"},
		{"replay without file", runReplay, nil, "want one replay FILE"},
		{"replay of a missing file", runReplay, []string{"-http", "-", missing}, "no such file"},
		{"relay with arguments", runRelay, []string{"extra"}, "unexpected arguments"},
		{"relay with a bad flag", runRelay, []string{"-tick", "fast"}, "invalid value"},
	}
	for _, c := range cases {
		err := c.run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func TestReplayRefusesAFileThatIsNotAReplay(t *testing.T) {
	f := filepath.Join(t.TempDir(), "not.replay")
	if err := os.WriteFile(f, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runReplay([]string{"-http", "-", f}); err == nil || !strings.Contains(err.Error(), "not a replay file") {
		t.Errorf("err %v, want one saying it is not a replay file", err)
	}
}

func TestSubcommandHelpIsNoError(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	stderr := os.Stderr
	os.Stderr = devNull // the usage goes there
	defer func() { os.Stderr = stderr }()
	for name, run := range map[string]func([]string) error{"relay": runRelay, "replay": runReplay, "record": runRecord} {
		if err := run([]string{"-h"}); err != nil {
			t.Errorf("%s -h: %v", name, err)
		}
	}
}
