package relay

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
)

// TestSpectatorsGetTheirCameraInterestSet: a spectator of a relay with a fixed camera receives
// exactly the origin's entities within the area of interest of the camera at the tick the relay
// showed; one whose camera orbits sees entities and no area-of-interest violations.
func TestSpectatorsGetTheirCameraInterestSet(t *testing.T) {
	url := startNATS(t)
	origin, _ := startOrigin(t, url)
	rel := startRelay(t, url)
	check := watchInterest(t, origin.Room, rel, 400, 600)
	orbiting := spectate(t, rel, nil, nil)

	check.wait(t, 30)
	testkit.WaitFor(t, 20*time.Second, "the orbiting spectator's snapshots", func() bool { return orbiting.Stats().Snapshots >= 30 })
	if st := orbiting.Stats(); st.AOIViolations != 0 || st.VisibleSum == 0 {
		t.Errorf("orbiting spectator: %d AOI violations, %d entities seen", st.AOIViolations, st.VisibleSum)
	}
	if w := orbiting.Welcome(); w.EntityId != 0 || w.InputMessage != string((&schema.Camera{}).ProtoReflect().Descriptor().FullName()) {
		t.Errorf("spectator welcome: entity %d, input %s; want no entity and a Camera", w.EntityId, w.InputMessage)
	}
}

// TestTwoRelaysServeOneRoom: each of two relays of one room follows it on its own and serves its
// spectator the exact interest set.
func TestTwoRelaysServeOneRoom(t *testing.T) {
	url := startNATS(t)
	origin, _ := startOrigin(t, url)
	a, b := startRelay(t, url), startRelay(t, url)
	ca := watchInterest(t, origin.Room, a, 300, 300)
	cb := watchInterest(t, origin.Room, b, 700, 500)
	ca.wait(t, 30)
	cb.wait(t, 30)
	if sa, sb := a.Follower().Stats(), b.Follower().Stats(); sa.Frames == 0 || sb.Frames == 0 {
		t.Errorf("frames applied: %d and %d", sa.Frames, sb.Frames)
	}
}

// TestRelayRecoversFromLostFrame: a lost delta leaves the next ones without their base; the relay
// refuses them, asks for a keyframe, and its replica is the origin's world again after it.
func TestRelayRecoversFromLostFrame(t *testing.T) {
	url := startNATS(t)
	origin, pub := startOrigin(t, url)
	rel := startRelay(t, url)
	f := rel.Follower()
	testkit.WaitFor(t, 10*time.Second, "the replica in step", func() bool { return replicaMatchesOrigin(f, origin.Room) })
	requests := pub.Stats().KeyframeRequests

	var lost atomic.Uint32
	f.mu.Lock()
	f.drop = func(m *schema.TickFrame) bool {
		return !m.Keyframe && lost.CompareAndSwap(0, m.Tick)
	}
	f.mu.Unlock()
	testkit.WaitFor(t, 10*time.Second, "a gap", func() bool { return f.Stats().Gaps > 0 })
	testkit.WaitFor(t, 10*time.Second, "the keyframe request", func() bool { return pub.Stats().KeyframeRequests > requests })
	testkit.WaitFor(t, 10*time.Second, "the replica past the lost tick and in step again", func() bool {
		ahead := false
		f.Read(func(tick uint32, _ []netcode.EntityState, ok bool) { ahead = ok && tick > lost.Load() })
		return ahead && replicaMatchesOrigin(f, origin.Room)
	})
}

// TestRelayRecoversFromUndecodableFrame: garbage on the stream drops the replica's state until a
// keyframe, which the relay asks for.
func TestRelayRecoversFromUndecodableFrame(t *testing.T) {
	url := startNATS(t)
	origin, pub := startOrigin(t, url)
	rel := startRelay(t, url)
	f := rel.Follower()
	testkit.WaitFor(t, 10*time.Second, "the replica in step", func() bool { return replicaMatchesOrigin(f, origin.Room) })
	requests := pub.Stats().KeyframeRequests
	ticks, _ := Subjects("arena")
	nc := connectNATS(t, url)
	if err := nc.Publish(ticks, []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the decode error", func() bool { return f.Stats().DecodeErrors > 0 })
	testkit.WaitFor(t, 10*time.Second, "the keyframe request", func() bool { return pub.Stats().KeyframeRequests > requests })
	testkit.WaitFor(t, 10*time.Second, "the replica in step again", func() bool { return replicaMatchesOrigin(f, origin.Room) })
}

// TestKeyframeRequestIsAnswered: a request on the keyframe subject gets a reply, and the next
// frame is a keyframe.
func TestKeyframeRequestIsAnswered(t *testing.T) {
	url := startNATS(t)
	_, pub := startOrigin(t, url)
	testkit.WaitFor(t, 10*time.Second, "a first frame", func() bool { return pub.Stats().Published > 0 })
	keys := pub.Stats().Keyframes
	_, ask := Subjects("arena")
	if _, err := connectNATS(t, url).Request(ask, nil, 5*time.Second); err != nil {
		t.Fatalf("keyframe request: %v", err)
	}
	testkit.WaitFor(t, 10*time.Second, "a keyframe", func() bool { return pub.Stats().Keyframes > keys })
}

func TestSubjectsEscapeRoomNames(t *testing.T) {
	for room, want := range map[string]string{
		"arena": "tickrelay.room.arena.ticks", "a.b c": "tickrelay.room.a%2Eb%20c.ticks",
		"*>%": "tickrelay.room.%2A%3E%25.ticks", "": "tickrelay.room.%.ticks",
	} {
		if got, _ := Subjects(room); got != want {
			t.Errorf("Subjects(%q) = %q, want %q", room, got, want)
		}
	}
}

// TestRelayRefusesAnotherSchema: a relay whose entity message is not the stream's does not start,
// and says why.
func TestRelayRefusesAnotherSchema(t *testing.T) {
	url := startNATS(t)
	startOrigin(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, connectNATS(t, url), Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: testkit.Quiet()},
		Room:   "arena", Entity: &skirmishpb.Entity{},
	})
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "tickrelay.arena.v1.Entity") {
		t.Fatalf("err %v, want ErrSchema naming the stream's message", err)
	}
}
