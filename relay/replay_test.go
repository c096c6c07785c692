package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// recordArena records the published arena for at least frames frames and returns the file.
func recordArena(t *testing.T, frames uint64) []byte {
	t.Helper()
	url := startNATS(t)
	origin, _ := startOrigin(t, url)
	var file bytes.Buffer
	rec, err := Record(connectNATS(t, url), &file, RecorderConfig{Room: "arena", Entity: &arenapb.Entity{}, Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the recorder's replica in step", func() bool { return replicaMatchesOrigin(rec.Follower(), origin.Room) })
	testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("%d frames recorded", frames), func() bool { return rec.Frames() >= frames })
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

// recordedWorlds decodes a replay file into the world at each recorded tick.
func recordedWorlds(t *testing.T, file []byte) map[uint32][]netcode.EntityState {
	t.Helper()
	_, recs, _, err := readReplay(file)
	if err != nil {
		t.Fatal(err)
	}
	rep := NewReplica(arenaPlan(t))
	worlds := make(map[uint32][]netcode.EntityState)
	for _, r := range recs {
		var f schema.TickFrame
		if err := proto.Unmarshal(r.data, &f); err != nil {
			t.Fatal(err)
		}
		if err := rep.Apply(&f); err != nil {
			t.Fatalf("recorded tick %d: %v", f.Tick, err)
		}
		worlds[f.Tick] = slices.Clone(rep.State())
	}
	return worlds
}

// TestReplayServesTheRecordedWorldAndSeeks records two seconds of a room, replays the file to a
// spectator, who receives exactly its camera's interest set of the recorded world, seeks to a
// keyframe over HTTP and sees the replay loop.
func TestReplayServesTheRecordedWorldAndSeeks(t *testing.T) {
	file := recordArena(t, 60)
	worlds := recordedWorlds(t, file)
	rp, err := LoadReplay(file, &arenapb.Entity{})
	if err != nil {
		t.Fatal(err)
	}
	keys := rp.Keyframes()
	if len(keys) < 2 {
		t.Fatalf("keyframes %v: want at least 2 in 60 frames", keys)
	}
	rel, err := ServeReplay(t.Context(), Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "-", Logger: testkit.Quiet()},
		Entity: &arenapb.Entity{},
	}, rp)
	if err != nil {
		t.Fatal(err)
	}
	testkit.ShutdownOnCleanup(t, rel.Server())
	t.Cleanup(rel.stop)

	check := watchWorld(t, func(tick uint32) ([]netcode.EntityState, bool) {
		w, ok := worlds[tick]
		return w, ok
	}, rel, 500, 500)
	check.wait(t, 30)

	base := "http://" + rel.Server().HTTPAddr().String()
	resp, err := http.Post(base+fmt.Sprintf("/replay/seek?tick=%d", keys[1]), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sought map[string]uint32
	if err := json.NewDecoder(resp.Body).Decode(&sought); err != nil || resp.StatusCode != http.StatusOK || sought["tick"] != keys[1] {
		t.Fatalf("seek to %d: status %d, %v, %v", keys[1], resp.StatusCode, sought, err)
	}
	_ = resp.Body.Close()
	testkit.WaitFor(t, 20*time.Second, "the replay looping", func() bool {
		resp, err := http.Get(base + "/replay")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st replayStatus
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Loops > 0 && slices.Equal(st.Keyframes, keys)
	})
	check.wait(t, 60) // still exact across the seek and the loop
}

func TestReplayFileWithoutTrailerLoads(t *testing.T) {
	plan := arenaPlan(t)
	var buf bytes.Buffer
	w, err := newReplayWriter(&buf, &schema.ReplayHeader{Room: "r", EntitySchema: plan.ID})
	if err != nil {
		t.Fatal(err)
	}
	enc := NewFrameEncoder("r", plan, 10, 10)
	for tick := uint32(1); tick <= 5; tick++ {
		m := enc.Encode(tick, time.Time{}, []netcode.EntityState{{ID: 1, Fields: [netcode.MaxFields]int32{int32(tick)}}}, tick == 1 || tick == 4)
		raw, _ := proto.Marshal(m)
		w.frame(m, raw)
	}
	_ = w.w.Flush()
	open := slices.Clone(buf.Bytes())
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string][]byte{"closed": buf.Bytes(), "without trailer": open} {
		rp, err := LoadReplay(file, &arenapb.Entity{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := rp.Keyframes(); !slices.Equal(got, []uint32{1, 4}) {
			t.Errorf("%s: keyframes %v, want [1 4]", name, got)
		}
		if got := rp.Seek(5); got != 4 {
			t.Errorf("%s: Seek(5) at %d, want 4", name, got)
		}
	}
	if _, err := LoadReplay(open[:len(open)-3], &arenapb.Entity{}); err == nil {
		t.Error("a truncated record loaded")
	}
	if _, err := LoadReplay([]byte("TRREPLAY"), &arenapb.Entity{}); err == nil {
		t.Error("an empty replay loaded")
	}
}

// FuzzReadReplay: readReplay returns an error or records that are TickFrames, never panics.
func FuzzReadReplay(f *testing.F) {
	f.Add([]byte("TRREPLAY\x00\x02\x08\x01"))
	f.Add([]byte("TRREPLAY\x02\x0a\x00\x02\x28\x01TRRINDEX"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, recs, keys, err := readReplay(data)
		if err != nil {
			return
		}
		if len(recs) == 0 || len(keys) == 0 || keys[0] != 0 {
			t.Fatalf("loaded %d records, keyframes %v", len(recs), keys)
		}
	})
}
