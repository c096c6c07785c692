package arena

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigPopulate(t *testing.T) {
	var c Config
	c.populate()
	if want := (Config{NPCs: 2000, Seed: 1, NPCSpeed: 60, NPCTurn: 0.5, PlayerSpeed: 120, ShotRange: 400, HitRadius: 12,
		FireInterval: 200 * time.Millisecond}); c != want {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
	set := Config{NPCs: -1, Seed: 9, NPCSpeed: 1, NPCTurn: 2, PlayerSpeed: 3, ShotRange: 4, HitRadius: 5, FireInterval: 6}
	got := set
	got.populate()
	if got != set {
		t.Errorf("populate replaced set fields: %+v, want %+v", got, set)
	}
}

func TestConfigValidate(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		field string // named in the error; "" for a valid config
		cfg   Config
	}{
		{"", Config{}},
		{"", Config{NPCs: -1, NPCTurn: 2 * math.Pi}},
		{"Config.NPCSpeed", Config{NPCSpeed: -1}},
		{"Config.NPCSpeed", Config{NPCSpeed: nan}},
		{"Config.NPCSpeed", Config{NPCSpeed: inf}},
		{"Config.NPCTurn", Config{NPCTurn: -0.1}},
		{"Config.NPCTurn", Config{NPCTurn: 7}},
		{"Config.PlayerSpeed", Config{PlayerSpeed: -120}},
		{"Config.PlayerSpeed", Config{PlayerSpeed: nan}},
		{"Config.ShotRange", Config{ShotRange: -1}},
		{"Config.HitRadius", Config{HitRadius: inf}},
		{"Config.FireInterval", Config{FireInterval: -1}},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%s: got %v, want an error naming it", tc.field, err)
		}
	}
}

func TestNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "Config.PlayerSpeed") {
			t.Errorf("recovered %v, want the PlayerSpeed error", r)
		}
	}()
	New(Config{PlayerSpeed: -1})
}
