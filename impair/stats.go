package impair

import "log/slog"

// DirStats are the counters of one direction. Once traffic has settled,
// In = Delivered + Dropped() + WriteErrors + Pending; a snapshot taken while packets flow may
// be off by the packets in transit through the proxy.
type DirStats struct {
	In              uint64 // datagrams received for this direction
	Delivered       uint64 // datagrams written on
	BytesDelivered  uint64 // payload bytes written on
	DroppedLoss     uint64 // dropped at random (Link.Loss)
	DroppedQueue    uint64 // dropped because the bottleneck queue or MaxPending was full
	DroppedOversize uint64 // dropped for exceeding MaxDatagram
	WriteErrors     uint64 // failed writes, for example to a mapping that just expired
	Reordered       uint64 // held back by Link.Reorder (and delivered late, not dropped)
	Pending         int    // held now, waiting for their release time
}

// Dropped returns the packets the impairment dropped, for any reason.
func (s DirStats) Dropped() uint64 { return s.DroppedLoss + s.DroppedQueue + s.DroppedOversize }

// LogValue groups the counters for slog.
func (s DirStats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("in", s.In), slog.Uint64("delivered", s.Delivered),
		slog.Uint64("bytes", s.BytesDelivered), slog.Uint64("lost", s.DroppedLoss),
		slog.Uint64("overflow", s.DroppedQueue), slog.Uint64("oversize", s.DroppedOversize),
		slog.Uint64("write_errors", s.WriteErrors), slog.Uint64("reordered", s.Reordered),
		slog.Int("pending", s.Pending))
}

// Stats are the proxy's counters.
type Stats struct {
	Up, Down        DirStats
	Mappings        int    // client mappings alive now
	MappingsCreated uint64 // client mappings ever created
	MappingsExpired uint64 // client mappings removed after IdleTimeout
	MappingsRefused uint64 // datagrams dropped for want of a mapping: MaxClients reached or dial failed
}

// LogValue groups the counters for slog.
func (s Stats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("up", s.Up), slog.Any("down", s.Down),
		slog.Int("mappings", s.Mappings), slog.Uint64("created", s.MappingsCreated),
		slog.Uint64("expired", s.MappingsExpired), slog.Uint64("refused", s.MappingsRefused))
}
