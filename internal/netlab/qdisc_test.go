package netlab

import (
	"testing"
	"time"
)

// tcOutput is `tc -s -j qdisc show dev X` from iproute2 6.1 on a tbf with a queue.
const tcOutput = `[{"kind":"tbf","handle":"8002:","root":true,"refcnt":3,"options":{"rate":8000,"burst":1600,"lat":367750},"bytes":123456,"packets":789,"drops":12,"overlimits":345,"requeues":1,"backlog":2620,"qlen":5}]`

func TestParseQdisc(t *testing.T) {
	got, err := ParseQdisc([]byte(tcOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := QdiscStats{Kind: "tbf", Bytes: 123456, Packets: 789, Drops: 12, Overlimits: 345, Requeues: 1, Backlog: 2620, Qlen: 5}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// A child qdisc before the root one does not confuse it.
	two := `[{"kind":"fq","handle":"10:","parent":"8002:1","bytes":1,"packets":1,"backlog":1,"qlen":1},` + tcOutput[1:]
	if got2, err := ParseQdisc([]byte(two)); err != nil || got2 != want {
		t.Errorf("with a child qdisc: %+v, %v", got2, err)
	}
}

func TestParseQdiscRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":         ``,
		"not a list":    `{"kind":"tbf"}`,
		"no root":       `[{"kind":"tbf","bytes":1,"packets":1,"backlog":0,"qlen":0}]`,
		"without -s":    `[{"kind":"tbf","handle":"8002:","root":true,"refcnt":3,"options":{"rate":8000,"burst":1600,"lat":367750}}]`,
		"negative":      `[{"kind":"tbf","root":true,"bytes":1,"packets":1,"backlog":-1,"qlen":0}]`,
		"truncated":     tcOutput[:40],
		"wrong type":    `[{"kind":"tbf","root":true,"bytes":"x","packets":1,"backlog":0,"qlen":0}]`,
		"empty list":    `[]`,
		"null elements": `[null]`,
	} {
		if st, err := ParseQdisc([]byte(in)); err == nil {
			t.Errorf("%s: parsed as %+v", name, st)
		}
	}
}

func FuzzParseQdisc(f *testing.F) {
	f.Add([]byte(tcOutput))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"root":true,"bytes":0,"packets":0,"backlog":0,"qlen":0}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := ParseQdisc(in)
		if err == nil && (st.Backlog < 0 || st.Qlen < 0) {
			t.Errorf("negative backlog accepted: %+v", st)
		}
	})
}

func TestSummarize(t *testing.T) {
	t0 := time.Now()
	var samples []Sample
	// Backlogs 0, 100, ..., 900 bytes; qlen one per 100 bytes.
	for i := range 10 {
		samples = append(samples, Sample{At: t0.Add(time.Duration(i) * 100 * time.Millisecond), QdiscStats: QdiscStats{
			Bytes: uint64(1000 + 500*i), Packets: uint64(10 + i), Drops: uint64(i / 5), Backlog: 100 * (9 - i), Qlen: 9 - i,
		}})
	}
	s := Summarize(samples, 8000) // 1000 bytes/s: 1 ms per byte
	if s.Samples != 10 || s.BacklogP50 != 500 || s.BacklogP90 != 900 || s.BacklogMax != 900 {
		t.Errorf("backlog p50/p90/max %d/%d/%d", s.BacklogP50, s.BacklogP90, s.BacklogMax)
	}
	if s.DelayP50 != 500 || s.DelayP90 != 900 || s.DelayMax != 900 {
		t.Errorf("delay p50/p90/max %v/%v/%v ms, want 500/900/900", s.DelayP50, s.DelayP90, s.DelayMax)
	}
	if s.QlenP50 != 5 || s.QlenMax != 9 {
		t.Errorf("qlen p50/max %d/%d", s.QlenP50, s.QlenMax)
	}
	if s.QueuedPacket != 100 {
		t.Errorf("mean queued packet %v bytes, want 100", s.QueuedPacket)
	}
	if s.Sent != 4500 || s.Packets != 9 || s.Drops != 1 || s.Duration != 900*time.Millisecond {
		t.Errorf("counters %+v", s)
	}
	if z := Summarize(nil, 8000); z.Samples != 0 || z.DelayP90 != 0 {
		t.Errorf("no samples: %+v", z)
	}
}

func TestTBFOptions(t *testing.T) {
	for _, tc := range []struct {
		tbf  TBF
		want string
	}{
		{TBF{Rate: 64000}, "rate 64000bit burst 1600 limit 4542"},
		{TBF{Rate: 1_000_000}, "rate 1000000bit burst 1600 limit 62500"},
		{TBF{Rate: 16000, Burst: 3000, Limit: 8000}, "rate 16000bit burst 3000 limit 8000"},
	} {
		if got := tc.tbf.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.tbf, got, tc.want)
		}
	}
	if d := (TBF{Rate: 16000}).Delay(2000); d != time.Second {
		t.Errorf("2000 bytes at 16 kbit/s wait %v, want 1s", d)
	}
}
