package skirmish

import (
	"testing"

	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/netcode"
)

// The skirmish's messages compile into the plans the page and the bots rely on: the x/z plane
// with y as the vertical, six frequent fields, and health, team and ammo in the rare group with
// ammo owner-only. The IDs pin the canonical forms, so that a change to skirmish.proto that
// changes the wire shows up here (and in the page's hello, which must be rebuilt with it).
func TestSchemaCompiles(t *testing.T) {
	ep, err := netcode.CompileEntity(&skirmishpb.Entity{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(idx []int) []string {
		var s []string
		for _, i := range idx {
			s = append(s, ep.Fields[i].Name)
		}
		return s
	}
	if got := names(ep.Frequent); !equal(got, "x", "y", "z", "yaw", "pitch", "orientation") {
		t.Errorf("frequent fields %v", got)
	}
	if got := names(ep.RareFields); !equal(got, "health", "team", "ammo") {
		t.Errorf("rare fields %v", got)
	}
	if ep.Plane != netcode.PlaneXZ || ep.Fields[ep.X].Name != "x" || ep.Fields[ep.Y].Name != "y" || ep.Fields[ep.Z].Name != "z" {
		t.Errorf("plane %v with axes %d, %d, %d", ep.Plane, ep.X, ep.Y, ep.Z)
	}
	for _, f := range ep.Fields {
		if f.OwnerOnly != (f.Name == "ammo") {
			t.Errorf("field %s owner-only %v", f.Name, f.OwnerOnly)
		}
	}
	ip, err := netcode.CompileInput(&skirmishpb.Input{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ip.Fields) != 6 {
		t.Errorf("input plan has %d fields, want 6", len(ip.Fields))
	}
	t.Logf("entity plan %08x: %s", ep.ID, ep.Canonical())
	t.Logf("input plan %08x: %s", ip.ID, ip.Canonical())
	if ep.ID != entityPlanID || ip.ID != inputPlanID {
		t.Errorf("plan IDs %08x, %08x; pinned %08x, %08x", ep.ID, ip.ID, entityPlanID, inputPlanID)
	}
}

// The plans' fingerprints (netcode.Plan.ID) of skirmish.proto as it is.
const (
	entityPlanID = 0xb2c4ef4b
	inputPlanID  = 0x448ac815
)

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
