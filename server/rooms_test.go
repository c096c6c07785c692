package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// roomHooks counts a room type's create and dispose calls.
type roomHooks struct{ created, disposed atomic.Int32 }

func (h *roomHooks) duel() server.RoomType {
	return server.RoomType{
		New: func(string) (server.Game, float32, float32, error) {
			return arena.New(arena.Config{NPCs: 1}), 500, 500, nil
		},
		OnCreate:  func(*server.Room) { h.created.Add(1) },
		OnDispose: func(*server.Room) { h.disposed.Add(1) },
	}
}

// roomsServer starts the arena server with the "duel" room type defined.
func roomsServer(t *testing.T, cfg server.Config) (*server.Server, *roomHooks) {
	t.Helper()
	srv, _ := testServer(t, cfg, arena.Config{}, 0)
	h := new(roomHooks)
	if err := srv.Define("duel", h.duel()); err != nil {
		t.Fatal(err)
	}
	return srv, h
}

func getRooms(t *testing.T, srv *server.Server) []server.RoomInfo {
	t.Helper()
	var rooms []server.RoomInfo
	getJSON(t, "http://"+srv.HTTPAddr().String()+"/rooms", &rooms)
	return rooms
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestRoomCreatedOnDemandListedAndClosedWhenIdle(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, hooks := roomsServer(t, server.Config{RoomIdleClose: 100 * time.Millisecond, Registry: reg})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, bots.Config{Addr: srv.Addr().String(), Name: "ann", Room: "duel:1", NoReconnect: true})
	if err != nil {
		t.Fatalf("dial a room that does not exist yet: %v", err)
	}
	if _, ok := srv.Room("duel:1"); !ok || hooks.created.Load() != 1 {
		t.Fatalf("room exists %v, create hook called %d times; want a room and 1 call", ok, hooks.created.Load())
	}
	waitFor(t, 5*time.Second, "the player in /rooms", func() bool {
		for _, r := range getRooms(t, srv) {
			if r.Name == "duel:1" {
				return r.Type == "duel" && !r.Static && r.Players == 1 && r.Capacity > 0 && r.TickHz == 30
			}
		}
		return false
	})
	if got := metricValue(t, reg, "tickrelay_rooms"); got != 2 {
		t.Errorf("rooms gauge %v, want 2: the static arena and the duel", got)
	}
	if hooks.disposed.Load() != 0 {
		t.Fatal("room disposed while its player is in it")
	}
	_ = c.Close()
	waitFor(t, 10*time.Second, "the empty room to close", func() bool {
		_, ok := srv.Room("duel:1")
		return !ok && hooks.disposed.Load() == 1
	})
	if got := metricValue(t, reg, "tickrelay_rooms_closed_total", "why", "idle"); got != 1 {
		t.Errorf("rooms closed for idleness %v, want 1", got)
	}
	if got := metricValue(t, reg, "tickrelay_rooms"); got != 1 {
		t.Errorf("rooms gauge %v after the idle close, want 1", got)
	}
	for _, r := range getRooms(t, srv) {
		if r.Name == "duel:1" {
			t.Errorf("closed room still listed: %+v", r)
		}
	}
	if _, ok := srv.Room("arena"); !ok {
		t.Error("the static room closed too")
	}
}

func TestRoomLimitRefusesWithItsReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, hooks := roomsServer(t, server.Config{MaxRooms: 1, Registry: reg}) // the static arena fills it
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bots.Dial(ctx, bots.Config{Addr: srv.Addr().String(), Room: "duel:2", NoReconnect: true})
	ce, ok := errors.AsType[*bots.CloseError](err)
	if !ok || ce.Reason != server.ReasonRoomLimit {
		t.Fatalf("dial over the room limit: %v, want ROOM_LIMIT", err)
	}
	if hooks.created.Load() != 0 || metricValue(t, reg, "tickrelay_rooms_refused_total") != 1 {
		t.Errorf("created %d rooms, refused %v; want 0 and 1", hooks.created.Load(),
			metricValue(t, reg, "tickrelay_rooms_refused_total"))
	}
}

func TestUnknownRoomWithoutTypesIsRefused(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bots.Dial(ctx, bots.Config{Addr: srv.Addr().String(), Room: "nowhere", NoReconnect: true})
	if ce, ok := errors.AsType[*bots.CloseError](err); !ok || ce.Reason != server.ReasonNoSuchRoom {
		t.Fatalf("dial an unknown room with no room types: %v, want NO_SUCH_ROOM", err)
	}
}

func TestConnectLookupCreatesTheRoomLocally(t *testing.T) {
	srv, hooks := roomsServer(t, server.Config{NodeName: "solo"})
	var loc server.Location
	getJSON(t, "http://"+srv.HTTPAddr().String()+"/connect?room=lobby&type=duel", &loc)
	if loc.Node != "solo" || loc.Room != "lobby" || loc.Type != "duel" || loc.Addr != srv.Addr().String() ||
		loc.URL != "https://"+srv.Addr().String()+"/play" || loc.CertHash == "" || !loc.DevMode {
		t.Fatalf("/connect?room=lobby&type=duel answered %+v", loc)
	}
	if _, ok := srv.Room("lobby"); !ok || hooks.created.Load() != 1 {
		t.Fatal("the lookup did not create the room")
	}
	dial(t, srv, bots.Config{Addr: loc.Addr, Room: loc.Room})
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/connect?room=x&type=nosuchtype")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("lookup of an unknown type: %s, want 404", resp.Status)
	}
}

func TestTypeOfRoomName(t *testing.T) {
	srv, _ := roomsServer(t, server.Config{})
	if err := srv.Define("race", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{}), 100, 100, nil
	}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"race:1": "race", "duel:x": "duel", "plain": "duel", "other:1": "duel"} {
		if got := srv.TypeOf(name); got != want {
			t.Errorf("TypeOf(%q) = %q, want %q", name, got, want)
		}
	}
	if err := srv.Define("race", server.RoomType{New: func(string) (server.Game, float32, float32, error) { return nil, 0, 0, nil }}); err == nil {
		t.Error("a type defined twice was accepted")
	}
}

func TestRoomConfigValidated(t *testing.T) {
	if _, err := server.New(server.Config{MaxRooms: -1}); err == nil || !strings.Contains(err.Error(), "MaxRooms") {
		t.Errorf("MaxRooms -1: %v, want an error naming the field", err)
	}
	srv, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.NodeName() == "" {
		t.Error("no default node name")
	}
	if err := srv.Define("a:b", server.RoomType{New: func(string) (server.Game, float32, float32, error) { return nil, 0, 0, nil }}); err == nil {
		t.Error("a type with ':' was accepted")
	}
	if err := srv.Define("x", server.RoomType{}); err == nil {
		t.Error("a type without New was accepted")
	}
}

func TestHelloThatFoundARoomKeepsItFromClosingForIdleness(t *testing.T) {
	// The reaper runs by hand here, as if an hour had passed: its own pass never closes a room
	// during the test.
	srv, hooks := roomsServer(t, server.Config{RoomIdleClose: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	later := time.Now().Add(2 * time.Hour)
	r, release, err := srv.OpenToJoin(ctx, "duel:1")
	if err != nil {
		t.Fatal(err)
	}
	srv.ReapOnce(later) // the room is empty and idle, but a hello has found it
	if _, ok := srv.Room("duel:1"); !ok || hooks.disposed.Load() != 0 {
		t.Fatal("the reaper closed a room that a hello had found and not yet joined")
	}
	if _, err := r.Join("ann"); err != nil {
		t.Fatalf("join after the reaper's pass: %v, want the room still open", err)
	}
	release()
	release() // idempotent
	srv.ReapOnce(later.Add(2 * time.Hour))
	if _, ok := srv.Room("duel:1"); !ok {
		t.Fatal("the reaper closed a room with a player joining")
	}
	// Without a hello in progress, an idle room closes.
	_, release2, err := srv.OpenToJoin(ctx, "duel:2")
	if err != nil {
		t.Fatal(err)
	}
	release2()
	srv.ReapOnce(later)
	if _, ok := srv.Room("duel:2"); ok {
		t.Fatal("an idle room with no hello in progress stayed open")
	}
}
