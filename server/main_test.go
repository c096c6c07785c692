package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: rooms, sessions, senders and stream writers all end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
