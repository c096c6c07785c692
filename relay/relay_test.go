package relay

import (
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/schema"
)

// TestSpectatorsGetTheirCameraInterestSet: a spectator of a relay with a fixed camera receives
// exactly the origin's entities within the area of interest of the camera at the tick the relay
// showed; one whose camera orbits sees entities and no area-of-interest violations.
func TestSpectatorsGetTheirCameraInterestSet(t *testing.T) {
	url := startNATS(t)
	origin, _ := startOrigin(t, url)
	rel := startRelay(t, url)
	check := &interestCheck{origin: origin.Room, relay: rel, plan: origin.Room.EntityPlan(), cx: 400, cy: 600,
		radius: rel.Room().Config().AOIRadius}
	spectate(t, rel, fixedCamera(check.cx, check.cy), check.onSnapshot)
	orbiting := spectate(t, rel, nil, nil)

	testkit.WaitFor(t, 20*time.Second, "30 snapshots compared", func() bool {
		check.mu.Lock()
		defer check.mu.Unlock()
		return check.compared >= 30
	})
	check.mu.Lock()
	if check.mismatches > 0 {
		t.Errorf("%d of %d snapshots differ from the origin's interest set; last: %s", check.mismatches, check.compared, check.lastDiff)
	}
	if check.seen == 0 {
		t.Error("the fixed camera's views were empty: the test compares nothing")
	}
	check.mu.Unlock()
	testkit.WaitFor(t, 20*time.Second, "the orbiting spectator's snapshots", func() bool { return orbiting.Stats().Snapshots >= 30 })
	if st := orbiting.Stats(); st.AOIViolations != 0 || st.VisibleSum == 0 {
		t.Errorf("orbiting spectator: %d AOI violations, %d entities seen", st.AOIViolations, st.VisibleSum)
	}
	if w := orbiting.Welcome(); w.EntityId != 0 || w.InputMessage != string((&schema.Camera{}).ProtoReflect().Descriptor().FullName()) {
		t.Errorf("spectator welcome: entity %d, input %s; want no entity and a Camera", w.EntityId, w.InputMessage)
	}
}
