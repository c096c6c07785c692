package server

import (
	"errors"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// Input pacing. Every input datagram a client sends is ack-eliciting, and quic-go (v0.64.1)
// acknowledges after two of them or after its fixed 25 ms max_ack_delay, with no setting to ask
// for less (it neither sends nor accepts ACK_FREQUENCY frames). A snapshot sent as a datagram
// carries a pending ACK only once that ACK is due, so input frames at 30 Hz draw about 30 ACK-only
// packets a second from the server, some 70 bytes each with UDP and IP headers: on a 32 kbit/s
// downlink that is half of what the link carries besides the snapshots. Only the client can make
// them fewer, by sending fewer frames; the server tells it with an InputHint when its link is
// what holds its snapshots back. The client keeps sampling one input per 1/InputRate and puts
// send_every times as many inputs in each frame, so the room receives and applies the same inputs,
// each once and in order, and each input still travels in as many frames.

const (
	// hintReview is how often a session reviews its client's input pacing.
	hintReview = 500 * time.Millisecond
	// hintMinInterval is the least time between two hints to one client.
	hintMinInterval = time.Second
	// hintRaiseAfter is how many reviews in a row must allow more frames before the client is
	// told to send them: a link is believed narrow at once, wide again only when it stays so.
	hintRaiseAfter = 3
	// hintMinCopies is how many frames each input travels in at the least, whatever the pacing.
	hintMinCopies = 3
	// maxSendEvery is the most inputs per frame a hint asks for: with hintMinCopies copies of
	// each, a frame must hold hintMinCopies × maxSendEvery inputs.
	maxSendEvery = netcode.MaxInputsPerFrame / hintMinCopies
	// hintFloorFrameRate is the fewest input frames per second a hint asks for (it also bounds
	// how often acks reach the snapshot sender, with the client's frame after every two
	// snapshots). stepFor asks for fewer than 10 only where the acks of 10 would take more than
	// hintAckShare of the link (below about 56 kbit/s for one client, 280 for five sharing it),
	// each input still in hintMinCopies frames; at an input rate of 30 Hz maxSendEvery bounds it
	// to 6. The cost is input delay: a frame every 1/6 s instead of every 1/10 s.
	hintFloorFrameRate = 5
	// hintAckBytes is what one QUIC ACK-only packet costs on the link with UDP and IPv4 headers.
	hintAckBytes = 70
	// hintSnapshotOverhead is what a snapshot datagram costs on the link beyond its payload.
	hintSnapshotOverhead = 48
	// hintAckShare is the share of the client's link the acks of its input frames may take.
	hintAckShare = 0.1
	// A client sent fewer than hintNarrow × TickRate snapshots a second has a link that holds
	// it back; one sent at least hintWide × TickRate has not.
	hintNarrow = 0.8
	hintWide   = 0.9
	// hintWideMargin is the headroom the link estimate must show before more frames are asked
	// for, so that the pacing does not flap around one link rate.
	hintWideMargin = 1.5
)

// inputPacer decides how often one session's client should send input frames: every input
// (send_every 1) while its link keeps up with the snapshots, fewer, with more inputs in each,
// while it does not. Owned by the session goroutine.
type inputPacer struct {
	inputRate float64 // Config.InputRate
	tickRate  float64 // Config.TickRate
	maxStep   int     // the largest send_every for this input rate; 1 turns pacing off

	path *sharedPath // the client's shared path, told each new step; nil: none

	step   int       // the send_every the client was last told (1 before any hint)
	faster int       // reviews in a row that allowed a smaller step
	hinted time.Time // when the last hint was given; zero: never
	prev   PeerStats // the counters at the previous review
	prevAt time.Time // zero before the first review
}

func newInputPacer(inputRate, tickRate int) inputPacer {
	return inputPacer{
		inputRate: float64(inputRate), tickRate: float64(tickRate), step: 1,
		maxStep: max(1, min(maxSendEvery, inputRate/hintFloorFrameRate)),
	}
}

// A client that joins a path already known to be narrow need not wait for its first review (a
// second or more of input frames at the full rate, each drawing an ACK): behind a link its
// neighbours already share, its share is narrower still. So each path remembers the newest step
// a pacer on it decided, and a new session on the path starts at that step and tells its client
// at once, right after the welcome; its reviews then go on as for any other client.

// start sets the pacer of a session that begins at now on path (nil: none) and returns the step
// to hint the client at once, or 0 when the client should start at 1, unhinted.
func (p *inputPacer) start(path *sharedPath, now time.Time) int {
	p.path = path
	if path == nil {
		return 0
	}
	step := min(int(path.inputStep.Load()), p.maxStep)
	if step <= 1 {
		return 0
	}
	p.step, p.hinted = step, now
	return step
}

// review takes the peer's counters at now and returns the send_every the client should use, and
// whether that is news to tell it.
func (p *inputPacer) review(st PeerStats, now time.Time) (step int, changed bool) {
	if p.prevAt.IsZero() || !now.After(p.prevAt) {
		p.prev, p.prevAt = st, now
		return p.step, false
	}
	dt := now.Sub(p.prevAt).Seconds()
	snaps := float64(st.SnapshotsSent-p.prev.SnapshotsSent) / dt
	p.prev, p.prevAt = st, now
	link := st.DeliveryRate + snaps*hintSnapshotOverhead
	return p.decide(snaps, link, now)
}

// decide is review's rule: snaps is the snapshots sent per second since the previous review and
// link the bytes per second the client's link is known to deliver. A client whose link holds its
// snapshots back is told at once to send as few frames as make their acks a small share of that
// link; it is told to send more only when the link shows room for them with a margin, or keeps up
// with the ticks, for hintRaiseAfter reviews in a row.
func (p *inputPacer) decide(snaps, link float64, now time.Time) (int, bool) {
	slower, faster := p.stepFor(link), p.stepFor(link/hintWideMargin)
	want := p.step
	switch {
	case snaps >= hintWide*p.tickRate:
		want = 1
	case snaps < hintNarrow*p.tickRate && slower > p.step:
		want = slower
	case faster < p.step:
		want = faster
	}
	if want < p.step {
		p.faster++
		if p.faster < hintRaiseAfter {
			return p.step, false
		}
	} else {
		p.faster = 0
	}
	if want == p.step || (!p.hinted.IsZero() && now.Sub(p.hinted) < hintMinInterval) {
		return p.step, false
	}
	p.step, p.hinted, p.faster = want, now, 0
	if p.path != nil {
		p.path.inputStep.Store(int32(want))
	}
	return want, true
}

// stepFor returns the send_every at which the acks of the client's input frames take at most
// hintAckShare of a link that delivers link bytes per second.
func (p *inputPacer) stepFor(link float64) int {
	if p.maxStep == 1 {
		return 1
	}
	if link <= 0 {
		return p.maxStep
	}
	frames := hintAckShare * link / hintAckBytes
	return max(1, min(p.maxStep, int(math.Ceil(p.inputRate/frames))))
}

// startPacing sets the session's input pacer and hint slot; a client on a path known to be
// narrow is given its hint at once (see inputPacer.start). Called before the writer starts.
func (ss *session) startPacing(path *sharedPath) {
	now := time.Now()
	ss.pacer = newInputPacer(ss.srv.cfg.InputRate, ss.srv.cfg.TickRate)
	// The first review only takes the counters: taken now, the first hint can go one review
	// after the start, not two, while the client's input frames still each draw an ACK.
	ss.pacer.review(ss.peer.Stats(), now)
	ss.hints = newHintSlot(newHintMetrics(ss.srv.cfg.Registry))
	if step := ss.pacer.start(path, now); step > 1 {
		ss.log.Debug("input hint at start", "send_every", step)
		ss.hints.put(inputHint(step))
	}
}

// inputHint returns the control message that tells a client its send_every.
func inputHint(step int) *schema.ControlMessage {
	return &schema.ControlMessage{Msg: &schema.ControlMessage_InputHint{
		InputHint: &schema.InputHint{SendEvery: uint32(step)},
	}}
}

// hintMetrics count the hints of all sessions.
type hintMetrics struct {
	sent     prometheus.Counter // hints written to clients
	replaced prometheus.Counter // hints replaced by a newer one before they were written
}

// newHintMetrics registers the hint counters with reg, or finds them there.
func newHintMetrics(reg prometheus.Registerer) hintMetrics {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tickrelay", Name: name, Help: help})
		if err := reg.Register(c); err != nil {
			if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
				return are.ExistingCollector.(prometheus.Counter)
			}
			panic(err) // two different metrics with one name: a programming error
		}
		return c
	}
	return hintMetrics{
		sent: counter("input_hints_total", "Input hints sent: a client told how often to send input frames."),
		replaced: counter("input_hints_replaced_total",
			"Input hints replaced by a newer one before the control writer took them."),
	}
}

// hintSlot holds the newest hint for a session's control writer. Overflow policy: replace, since
// only the newest advice counts; replacements are counted.
type hintSlot struct {
	c       chan *schema.ControlMessage
	metrics hintMetrics
}

func newHintSlot(m hintMetrics) hintSlot {
	return hintSlot{c: make(chan *schema.ControlMessage, 1), metrics: m}
}

// put offers m to the writer, replacing a hint it has not taken yet. Only one goroutine may put.
func (h hintSlot) put(m *schema.ControlMessage) {
	for {
		select {
		case h.c <- m:
			return
		default:
		}
		select {
		case <-h.c:
			h.metrics.replaced.Inc()
		default:
		}
	}
}
