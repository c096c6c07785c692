package relay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// A replay file is a room's tick stream as a follower applied it:
//
//	magic "TRREPLAY"
//	uvarint length, ReplayHeader
//	records: uvarint length, TickFrame (the stream's bytes), the first a keyframe
//	trailer (once the recorder closed): ReplayIndex, its length as 8 bytes little-endian, "TRRINDEX"
//
// A file without its trailer (a recorder that did not close) is read by scanning its records.
const (
	replayMagic = "TRREPLAY"
	indexMagic  = "TRRINDEX"
	// maxRecord bounds one record's length, against a corrupt length prefix.
	maxRecord = 64 << 20
)

// replayWriter writes a replay file.
type replayWriter struct {
	w     *bufio.Writer
	off   uint64
	index schema.ReplayIndex
	buf   []byte
}

func newReplayWriter(w io.Writer, h *schema.ReplayHeader) (*replayWriter, error) {
	rw := &replayWriter{w: bufio.NewWriter(w)}
	b, err := proto.Marshal(h)
	if err != nil {
		return nil, err
	}
	rw.write([]byte(replayMagic))
	rw.record(b)
	return rw, nil
}

func (rw *replayWriter) write(b []byte) {
	n, _ := rw.w.Write(b) // a bufio.Writer keeps its first error for Flush
	rw.off += uint64(n)
}

func (rw *replayWriter) record(b []byte) {
	rw.buf = binary.AppendUvarint(rw.buf[:0], uint64(len(b)))
	rw.write(rw.buf)
	rw.write(b)
}

// frame writes one frame's stream bytes, indexing it if it is a keyframe.
func (rw *replayWriter) frame(f *schema.TickFrame, raw []byte) {
	if f.Keyframe {
		rw.index.Ticks = append(rw.index.Ticks, f.Tick)
		rw.index.Offsets = append(rw.index.Offsets, rw.off)
	}
	rw.record(raw)
}

// close writes the trailer and flushes.
func (rw *replayWriter) close() error {
	b, err := proto.Marshal(&rw.index)
	if err != nil {
		return err
	}
	rw.write(b)
	rw.write(binary.LittleEndian.AppendUint64(nil, uint64(len(b))))
	rw.write([]byte(indexMagic))
	return rw.w.Flush()
}

// replayRecord is one frame of a loaded replay.
type replayRecord struct {
	tick     uint32
	keyframe bool
	data     []byte
}

// readReplay parses a whole replay file: its header, its records (the first a keyframe) and the
// keyframes' indices among them. It never panics on malformed input.
func readReplay(data []byte) (*schema.ReplayHeader, []replayRecord, []int, error) {
	if !bytes.HasPrefix(data, []byte(replayMagic)) {
		return nil, nil, nil, errors.New("relay: not a replay file")
	}
	body := data[len(replayMagic):]
	if n := len(body); n >= 16 && string(body[n-8:]) == indexMagic {
		l := binary.LittleEndian.Uint64(body[n-16 : n-8])
		if l <= uint64(n-16) {
			body = body[:uint64(n-16)-l] // the records; the index is rebuilt from them below
		}
	}
	hb, rest, err := nextRecord(body)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("relay: replay header: %w", err)
	}
	h := &schema.ReplayHeader{}
	if err := proto.Unmarshal(hb, h); err != nil {
		return nil, nil, nil, fmt.Errorf("relay: replay header: %w", err)
	}
	var recs []replayRecord
	var keys []int
	var f schema.TickFrame
	for len(rest) > 0 {
		var b []byte
		if b, rest, err = nextRecord(rest); err != nil {
			return nil, nil, nil, fmt.Errorf("relay: replay record %d: %w", len(recs), err)
		}
		if err := proto.Unmarshal(b, &f); err != nil {
			return nil, nil, nil, fmt.Errorf("relay: replay record %d: %w", len(recs), err)
		}
		if f.Keyframe {
			keys = append(keys, len(recs))
		} else if len(recs) == 0 {
			return nil, nil, nil, errors.New("relay: replay does not start with a keyframe")
		}
		recs = append(recs, replayRecord{tick: f.Tick, keyframe: f.Keyframe, data: b})
	}
	if len(recs) == 0 {
		return nil, nil, nil, errors.New("relay: replay holds no frame")
	}
	return h, recs, keys, nil
}

// nextRecord splits a length-prefixed record off b.
func nextRecord(b []byte) (rec, rest []byte, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > maxRecord || l > uint64(len(b)-n) {
		return nil, nil, errors.New("truncated or corrupt record")
	}
	return b[n : n+int(l)], b[n+int(l):], nil
}
