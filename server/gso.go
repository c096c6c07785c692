package server

import (
	"os"
	"sync"
)

// disableGSOEnv is quic-go's switch for generic segmentation offload: v0.64.1 reads it once per
// socket, when a quic.Transport first wraps its connection (isGSOEnabled, sys_conn_helper_linux.go),
// and offers no other, per-Transport way to turn GSO off.
const disableGSOEnv = "QUIC_GO_DISABLE_GSO"

// gsoMu serializes the servers of one process that bind with the switch set, so that one cannot
// restore the environment while another still binds.
var gsoMu sync.Mutex

// bindWithGSO runs bind, which must make a quic.Transport wrap its socket, with quic-go's GSO
// switch set as enabled says: off unless enabled. The environment is restored afterwards. It
// never turns GSO on where QUIC_GO_DISABLE_GSO already turns it off.
func bindWithGSO(enabled bool, bind func() error) error {
	if enabled {
		return bind()
	}
	gsoMu.Lock()
	defer gsoMu.Unlock()
	old, had := os.LookupEnv(disableGSOEnv)
	if err := os.Setenv(disableGSOEnv, "true"); err != nil {
		return bind() // the environment cannot be set: bind as quic-go would anyway
	}
	defer func() {
		if had {
			_ = os.Setenv(disableGSOEnv, old)
		} else {
			_ = os.Unsetenv(disableGSOEnv)
		}
	}()
	return bind()
}
